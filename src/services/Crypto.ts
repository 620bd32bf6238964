/**
 * The `Crypto` service: Ed25519 keys, signing, strict RFC 8032 verification (single and batched on a
 * worker pool), BLS12-381 aggregate signatures (min-pk, POP ciphersuite) for authority certificates,
 * and Blake2b-256. Two layers implement it — `NodeCryptoLayer` (OpenSSL and native blst, a worker pool
 * over every core, WASM Blake2b) and `NobleCryptoLayer` (pure JS, the portable reference). Both must
 * give the same verdict on every input: a split verdict is a fork.
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

/**
 * A BLS12-381 key pair of the min-pk scheme: `secretKey` is the 32-byte big-endian scalar
 * (0 < sk < r), `publicKey` the 48-byte compressed G1 point.
 */
export interface BlsKeypair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

/**
 * The authority keys of one committee (48-byte compressed G1 points, by `AuthorityIndex`), as one
 * immutable value. Layers cache the deserialised, subgroup-checked points under `id` (and aggregated
 * public keys per (id, signer set)), so each key is decoded once per epoch, not once per certificate.
 * Equal ids must mean equal keys: build key sets with `blsKeySetOf` (domain/authoritySignature.ts).
 * (The layers also compare the key bytes on each use, so a reused id costs a re-decode, never a wrong
 * verdict.)
 */
export interface BlsKeySet {
  readonly id: string
  readonly keys: ReadonlyArray<Uint8Array>
}

/**
 * One aggregate signature to check: `signature` (96-byte compressed G2) must be the aggregate of the
 * signatures over `message` of the keys whose bits are set in `signers`. `signers` is a bitmap over the
 * key set, bit i = `(signers[i >> 3] >> (i & 7)) & 1`; the caller has already checked its shape
 * (exactly ⌈n/8⌉ bytes, no bit past n, at least one bit) and the signers' stake.
 */
export interface AggregateItem {
  readonly keySet: BlsKeySet
  readonly signers: Uint8Array
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
  /** The BLS key pair of a seed of ≥ 32 bytes (IETF KeyGen; deterministic: tests, the devnet, keygen). */
  readonly blsKeypairFromSeed: (seed: Uint8Array) => Effect.Effect<BlsKeypair>
  /** A BLS signature (96 bytes) with the POP ciphersuite's DST `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`. */
  readonly blsSign: (keypair: BlsKeypair, message: Uint8Array) => Effect.Effect<Uint8Array>
  /**
   * Verdicts of aggregate signatures, item i at index i. An item is valid iff its bitmap has exactly
   * ⌈n/8⌉ bytes, no bit past n and at least one bit; every signer key is 48 bytes, on the curve, in
   * G1 and not the point at infinity (other keys of the set are not looked at); the sum of the signer
   * keys is not infinity; the signature is 96 bytes, on the curve, in G2 and not infinity; and
   * e(Σ pk, H(message)) = e(G1, signature), H with the POP DST. Anything malformed gives `false`,
   * never an error. The node layer checks whole batches at once (random-scalar batch verification,
   * 64-bit scalars, on the worker pool) and bisects a failing batch to find the items that fail.
   */
  readonly verifyAggregates: (items: ReadonlyArray<AggregateItem>) => Effect.Effect<ReadonlyArray<boolean>>
}

/** Tag of the `Crypto` service. */
export class Crypto extends Context.Tag("soma-p2p/Crypto")<Crypto, CryptoService>() {}
