/**
 * `NodeCryptoLayer`: the fast default implementation of `Crypto`.
 *
 * - Ed25519 through OpenSSL (`node:crypto`), behind the shared strict pre-check (`ed25519Strict.ts`)
 *   so that its verdicts are exactly those of `NobleCryptoLayer`;
 * - BLS12-381 aggregate signatures with native blst (`@chainsafe/blst`): key generation and signing
 *   here, verification in `blsVerify.mjs` (random-scalar batches, bisected when they fail);
 * - `verifyMany` and `verifyAggregates` spread over a pool of worker threads (one per core) owned by
 *   the layer's scope (verifyPool.ts); small batches run inline on the calling thread;
 * - Blake2b-256 with hash-wasm (WASM), ≈ 28x faster than the pure-JS implementation here.
 *
 * Choices and measurements are in docs/decisions.md (## Crypto).
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject
} from "node:crypto"
import { SecretKey } from "@chainsafe/blst"
import { Effect, Layer, type Scope } from "effect"
import { createBLAKE2b } from "hash-wasm"
import {
  type BlsKeypair,
  Crypto,
  type CryptoService,
  type Ed25519Keypair,
  type VerifyItem
} from "../../services/Crypto.js"
import { verifyBlsChunk } from "./blsVerify.mjs"
import { packBlsChunk } from "./chunkFormat.js"
import { strictPrecheck } from "./ed25519Strict.js"
import { makeVerifyPool, type VerifyPoolOptions } from "./verifyPool.js"

/** DER prefix of a PKCS#8 Ed25519 private key; followed by the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_SEED_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")
/** Length of the DER prefix of an SPKI Ed25519 public key; the raw 32-byte key follows it. */
const SPKI_ED25519_PREFIX_LENGTH = 12

/**
 * The key argument for `crypto.verify`. A JWK import costs ≈ 7 µs in OpenSSL 3.0, an SPKI DER import
 * ≈ 75 µs (its decoder framework is slow), i.e. DER would nearly halve verify throughput.
 */
const publicKeyInput = (publicKey: Uint8Array) =>
  ({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      x: Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("base64url")
    },
    format: "jwk"
  }) as const

/**
 * Strict verification of one item on the calling thread: the shared pre-check, then OpenSSL's
 * cofactorless equation (encode([S]B − [k]A) == R bytes). Never throws.
 */
export const nativeVerify = (item: VerifyItem): boolean => {
  if (!strictPrecheck(item.publicKey, item.signature)) return false
  try {
    return nodeVerify(null, item.message, publicKeyInput(item.publicKey), item.signature)
  } catch {
    return false // e.g. a y that is not on the curve: OpenSSL refuses the key
  }
}

/**
 * The same check with the callback form of `crypto.verify` (OpenSSL on libuv's thread pool). Not
 * used by the layer: it measured about as fast as the worker pool but kept the main thread ~60% busy
 * (vs ~3%) with key imports, job setup and callbacks. Kept for the benchmark that made the choice.
 */
export const nativeVerifyOnThreadPool = (item: VerifyItem): Promise<boolean> => {
  if (!strictPrecheck(item.publicKey, item.signature)) return Promise.resolve(false)
  return new Promise((resolve) => {
    try {
      nodeVerify(null, item.message, publicKeyInput(item.publicKey), item.signature, (error, ok) =>
        resolve(error === null && ok)
      )
    } catch {
      resolve(false)
    }
  })
}

// ---------------------------------------------------------------------------------------------------
// The layer

/** Options of `makeNodeCrypto`. */
export interface NodeCryptoOptions {
  readonly pool?: VerifyPoolOptions
  /**
   * Batches smaller than this are verified on the calling thread: a round trip to a worker costs
   * about as much as a few verifies, and a small batch then never waits behind a large one.
   */
  readonly inlineBelow?: number
  /** The same for `verifyAggregates` (BLS_INLINE_BELOW by default). */
  readonly blsInlineBelow?: number
}

/**
 * BLS batches below this size are verified inline. Measured: a lone certificate takes ≈ 1.3 ms inline
 * and ≈ 1.8 ms through the pool, and blocks this thread about as long as the 16 inline Ed25519
 * verifies do; from two on, the random-scalar batch makes each certificate cheaper (≈ 1.2 ms for 2,
 * ≈ 0.5 ms for 16, ≈ 0.33 ms for 256), so they go to the pool and leave this thread free.
 */
const BLS_INLINE_BELOW = 2

/**
 * Imported private keys by key-pair object (an import costs more than a signature). Key pairs are
 * values: their seed is never mutated after creation, so the cache cannot go stale.
 */
const privateKeys = new WeakMap<Ed25519Keypair, KeyObject>()

/** The key pair of a 32-byte seed, synchronously (config loading and wiring need it outside the service). */
export const keypairFromSeedSync = (seed: Uint8Array): Ed25519Keypair => {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`)
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_SEED_PREFIX, seed]),
    format: "der",
    type: "pkcs8"
  })
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" })
  const keypair: Ed25519Keypair = {
    seed: Uint8Array.from(seed),
    publicKey: Uint8Array.from(spki.subarray(SPKI_ED25519_PREFIX_LENGTH))
  }
  privateKeys.set(keypair, privateKey)
  return keypair
}

const privateKeyOf = (keypair: Ed25519Keypair): KeyObject => {
  const cached = privateKeys.get(keypair)
  if (cached !== undefined) return cached
  if (keypair.seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${keypair.seed.length}`)
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_SEED_PREFIX, keypair.seed]),
    format: "der",
    type: "pkcs8"
  })
  privateKeys.set(keypair, key)
  return key
}

const toPlainBytes = (buffer: Buffer): Uint8Array => Uint8Array.from(buffer)

/** Parsed blst secret keys by key-pair object (key pairs are values, as for Ed25519 above). */
const blsSecretKeys = new WeakMap<BlsKeypair, SecretKey>()

/**
 * The BLS key pair of a seed of at least 32 bytes: IETF KeyGen (HKDF-SHA256, salt
 * "BLS-SIG-KEYGEN-SALT-", empty key_info), exactly what `NobleCryptoLayer` derives.
 */
export const blsKeypairFromSeedSync = (seed: Uint8Array): BlsKeypair => {
  if (seed.length < 32) throw new RangeError(`a BLS key seed is at least 32 bytes, got ${seed.length}`)
  const secretKey = SecretKey.fromKeygen(seed)
  const keypair: BlsKeypair = { secretKey: secretKey.toBytes(), publicKey: secretKey.toPublicKey().toBytes() }
  blsSecretKeys.set(keypair, secretKey)
  return keypair
}

/** The blst secret key of a key pair; throws (a defect) if the bytes are not a scalar 0 < sk < r. */
const blsSecretKeyOf = (keypair: BlsKeypair): SecretKey => {
  const cached = blsSecretKeys.get(keypair)
  if (cached !== undefined) return cached
  const secretKey = SecretKey.fromBytes(keypair.secretKey)
  blsSecretKeys.set(keypair, secretKey)
  return secretKey
}

/** Builds the node `CryptoService` in the current scope (the worker pool lives as long as the scope). */
export const makeNodeCrypto = (options: NodeCryptoOptions = {}): Effect.Effect<CryptoService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const inlineBelow = options.inlineBelow ?? 16
    const blsInlineBelow = options.blsInlineBelow ?? BLS_INLINE_BELOW
    // createBLAKE2b is async (it instantiates the WASM module) — once, here; hashing is then sync.
    const hasher = yield* Effect.promise(() => createBLAKE2b(256))
    const pool = yield* makeVerifyPool(options.pool)
    const service: CryptoService = {
      name: "node",
      keypairFromSeed: (seed) => Effect.sync(() => keypairFromSeedSync(seed)),
      // A key is a secret: it comes from the OS CSPRNG, not from the (seedable) Effect `Random`.
      generateKeypair: Effect.sync(() => keypairFromSeedSync(randomBytes(32))),
      sign: (keypair, message) => Effect.sync(() => toPlainBytes(nodeSign(null, message, privateKeyOf(keypair)))),
      verify: (item) => Effect.sync(() => nativeVerify(item)),
      verifyMany: (items) =>
        items.length < inlineBelow ? Effect.sync(() => items.map(nativeVerify)) : pool.verifyMany(items),
      // Synchronous and not re-entrant, which is safe: JS never interleaves inside this call.
      blake2b256: (data) => hasher.init().update(data).digest("binary"),
      blsKeypairFromSeed: (seed) => Effect.sync(() => blsKeypairFromSeedSync(seed)),
      blsSign: (keypair, message) => Effect.sync(() => blsSecretKeyOf(keypair).sign(message).toBytes()),
      verifyAggregates: (items) =>
        items.length === 0
          ? Effect.succeed([])
          : items.length < blsInlineBelow
            ? Effect.sync(() => Array.from(verifyBlsChunk(packBlsChunk(items, 0, items.length)), (v) => v === 1))
            : pool.verifyAggregates(items)
    }
    return service
  })

/**
 * The native `Crypto` layer: OpenSSL Ed25519, blst BLS12-381, a verification worker pool over every
 * core, WASM Blake2b.
 */
export const NodeCryptoLayer: Layer.Layer<Crypto> = Layer.scoped(Crypto, makeNodeCrypto())
