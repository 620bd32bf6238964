/**
 * `NobleCryptoLayer`: the portable, pure-JS reference implementation of `Crypto` (@noble/ed25519 v3,
 * @noble/hashes SHA-512 and Blake2b, @noble/curves BLS12-381 in nobleBls.ts). Slow (≈ 1k Ed25519
 * verifies/s, ≈ 50 ms per BLS certificate) but independent of OpenSSL and blst, so it is the reference
 * that `NodeCryptoLayer` is tested against, and a fallback where native code is unusable.
 */
import * as ed from "@noble/ed25519"
import { blake2b } from "@noble/hashes/blake2.js"
import { sha512 } from "@noble/hashes/sha2.js"
import { Effect, Layer } from "effect"
import { Crypto, type CryptoService, type Ed25519Keypair, type VerifyItem } from "../../services/Crypto.js"
import { strictPrecheck } from "./ed25519Strict.js"
import { nobleBlsKeypairFromSeed, nobleBlsSign, nobleVerifyAggregate } from "./nobleBls.js"

// noble's synchronous API (getPublicKey, sign, ...) needs a sync SHA-512 (its README); setting it is
// idempotent, so doing it at import is harmless even if several layers are built.
ed.hashes.sha512 = sha512

const { Point } = ed
const L = Point.CURVE().n

/** Little-endian bytes → bigint. */
const bytesToBigIntLE = (bytes: Uint8Array): bigint => {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0)
  return n
}

const equalBytes = (a: Uint8Array, aOffset: number, b: Uint8Array, length: number): boolean => {
  for (let i = 0; i < length; i++) if (a[aOffset + i] !== b[i]) return false
  return true
}

/**
 * Strict, cofactorless Ed25519 verification with noble's point arithmetic, bit-for-bit the check that
 * OpenSSL performs after `strictPrecheck`: k = SHA-512(R ‖ A ‖ M) mod L, accept iff
 * encode([S]B − [k]A) equals the R bytes.
 *
 * Why not `ed.verify(sig, msg, pk, { zip215: false })`: noble's strict mode still checks the
 * *cofactored* equation [8]([S]B − R − [k]A) = O. It accepts a mixed-order key A + T whenever
 * [k]T ≠ O and a signature whose R carries a torsion component, both of which OpenSSL rejects — a
 * split verdict. Comparing encodings also means R never needs decoding (like OpenSSL).
 */
export const nobleVerifyStrict = (item: VerifyItem): boolean => {
  const { publicKey, signature, message } = item
  if (!strictPrecheck(publicKey, signature)) return false
  let A: ed.Point
  try {
    A = Point.fromBytes(publicKey, false) // throws when y is not on the curve
  } catch {
    return false
  }
  const s = bytesToBigIntLE(signature.subarray(32, 64)) // < L: checked by strictPrecheck
  const k = bytesToBigIntLE(sha512(ed.etc.concatBytes(signature.subarray(0, 32), publicKey, message))) % L
  // multiply(_, false) is noble's variable-time path, fine for public data; it accepts 0.
  const check = Point.BASE.multiply(s, false).subtract(A.multiply(k, false))
  return equalBytes(signature, 0, check.toBytes(), 32)
}

const keypairFromSeedSync = (seed: Uint8Array): Ed25519Keypair => {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`)
  return { seed: Uint8Array.from(seed), publicKey: ed.getPublicKey(seed) }
}

/** Builds the noble `CryptoService` (no resources to own, hence a plain Effect). */
export const makeNobleCrypto: Effect.Effect<CryptoService> = Effect.sync(() => {
  const service: CryptoService = {
    name: "noble",
    keypairFromSeed: (seed) => Effect.sync(() => keypairFromSeedSync(seed)),
    // A key is a secret: it comes from the OS CSPRNG, not from the (seedable) Effect `Random`.
    generateKeypair: Effect.sync(() => keypairFromSeedSync(ed.utils.randomSecretKey())),
    sign: (keypair, message) => Effect.sync(() => ed.sign(message, keypair.seed)),
    verify: (item) => Effect.sync(() => nobleVerifyStrict(item)),
    verifyMany: (items) => Effect.sync(() => items.map(nobleVerifyStrict)),
    blake2b256: (data) => blake2b(data, { dkLen: 32 }),
    blsKeypairFromSeed: (seed) => Effect.sync(() => nobleBlsKeypairFromSeed(seed)),
    blsSign: (keypair, message) => Effect.sync(() => nobleBlsSign(keypair, message)),
    verifyAggregates: (items) => Effect.sync(() => items.map(nobleVerifyAggregate))
  }
  return service
})

/** The pure-JS `Crypto` layer (reference implementation). */
export const NobleCryptoLayer: Layer.Layer<Crypto> = Layer.effect(Crypto, makeNobleCrypto)
