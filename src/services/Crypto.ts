/**
 * The `Crypto` service: Ed25519 keys, signing, strict RFC 8032 verification (single and batched on a
 * worker pool) and Blake2b-256. Two layers implement it — `NodeCryptoLayer` (OpenSSL through
 * `node:crypto`, a worker pool over every core, WASM Blake2b) and `NobleCryptoLayer` (pure JS, the
 * portable reference). Both must give the same verdict on every input: a split verdict is a fork.
 */
import { Context, type Effect } from "effect"

/** An Ed25519 key pair. `seed` is the 32-byte RFC 8032 private key; `publicKey` is 32 bytes. */
export interface Ed25519Keypair {
  readonly seed: Uint8Array
  readonly publicKey: Uint8Array
}

/** One signature to check: `signature` (64 bytes) by `publicKey` (32 bytes) over `message`. */
export interface VerifyItem {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

export interface CryptoService {
  /** Which implementation this is (for logs and benchmarks). */
  readonly name: "node" | "noble"
  /** Derives the key pair of a 32-byte seed (deterministic, used by tests, the devnet and keygen). */
  readonly keypairFromSeed: (seed: Uint8Array) => Effect.Effect<Ed25519Keypair>
  /** A fresh random key pair. */
  readonly generateKeypair: Effect.Effect<Ed25519Keypair>
  /** Signs `message` with the key pair's private key (64-byte signature). */
  readonly sign: (keypair: Ed25519Keypair, message: Uint8Array) => Effect.Effect<Uint8Array>
  /**
   * Strict RFC 8032 verification (cofactorless, canonical S < L, canonical point encodings,
   * small-order public keys rejected). Malformed lengths give `false`, never an error.
   */
  readonly verify: (item: VerifyItem) => Effect.Effect<boolean>
  /** Verifies a batch; the verdict of item i is at index i. Spread over the worker pool where there is one. */
  readonly verifyMany: (items: ReadonlyArray<VerifyItem>) => Effect.Effect<ReadonlyArray<boolean>>
  /** Blake2b with a 32-byte output. */
  readonly blake2b256: (data: Uint8Array) => Uint8Array
}

/** Tag of the `Crypto` service. */
export class Crypto extends Context.Tag("soma-p2p/Crypto")<Crypto, CryptoService>() {}
