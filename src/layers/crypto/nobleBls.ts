/**
 * BLS12-381 aggregate signatures (min-pk, POP ciphersuite) in pure JS with `@noble/curves`: the
 * portable reference that `NobleCryptoLayer` exposes and that the native blst path is tested against.
 * Its verdicts must equal blst's on every input, which takes a few explicit rules on top of noble's
 * defaults (checked against the Ethereum bls12-381-tests vectors by scripts/bls-vectors.ts):
 *
 * - hash to G2 with the POP DST — noble's default is the `_NUL_` ciphersuite, which fails every vector;
 * - keys exactly 48 bytes (noble also takes 96-byte uncompressed ones), signatures exactly 96; noble's
 *   decoders check the curve and the subgroup, and decode `c0 00…` to the zero point, which is refused;
 * - the aggregated key must not be the zero point either (KeyValidate of the aggregate, as in the
 *   IETF CoreVerify; blst refuses it too);
 * - secret keys: 0 < sk < r checked here, since noble silently reduces sk ≥ r;
 * - KeyGen: the IETF draft-04 HKDF KeyGen, as blst's `SecretKey.fromKeygen` (noble's own `keygen`
 *   is a different derivation).
 *
 * Cost here: ≈ 13 ms to hash a message to G2, ≈ 3.5 ms to decode a signature, ≈ 31 ms per pairing
 * check, ≈ 2 ms to decode a key — hence the per-key-set cache of decoded keys.
 */
import { bls12_381 } from "@noble/curves/bls12-381.js"
import { extract, expand } from "@noble/hashes/hkdf.js"
import { sha256 } from "@noble/hashes/sha2.js"
import type { AggregateItem, BlsKeypair, BlsKeySet } from "../../services/Crypto.js"
import { bytesEqual } from "../../domain/bytes.js"

/** The POP ciphersuite's hash-to-G2 domain separation tag. */
export const BLS_POP_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

const signatures = bls12_381.longSignatures
const G1 = bls12_381.G1.Point
type G1Point = ReturnType<typeof G1.fromBytes>
type G2Point = ReturnType<typeof signatures.Signature.fromBytes>
const R = bls12_381.fields.Fr.ORDER

const KEY_LENGTH = 48
const SIGNATURE_LENGTH = 96
const SECRET_KEY_LENGTH = 32
/** Key sets whose decoded keys are kept (the same bound as the native path). */
const MAX_KEY_SETS = 8

const bytesToBigIntBE = (bytes: Uint8Array): bigint => {
  let n = 0n
  for (const byte of bytes) n = (n << 8n) | BigInt(byte)
  return n
}

/** A non-negative bigint as `length` big-endian bytes (scalars, field elements). */
export const bigIntToBytesBE = (n: bigint, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let v = n
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}


/**
 * IETF KeyGen (draft-irtf-cfrg-bls-signature-04 §2.3) with an empty key_info:
 * salt = "BLS-SIG-KEYGEN-SALT-"; repeat { salt = SHA-256(salt); PRK = HKDF-Extract(salt, IKM ‖ 0x00);
 * OKM = HKDF-Expand(PRK, I2OSP(48, 2), 48); SK = OS2IP(OKM) mod r } until SK ≠ 0.
 */
export const ietfKeyGen = (ikm: Uint8Array): bigint => {
  let salt: Uint8Array = new TextEncoder().encode("BLS-SIG-KEYGEN-SALT-")
  const input = new Uint8Array(ikm.length + 1)
  input.set(ikm)
  for (;;) {
    salt = sha256(salt)
    const okm = expand(sha256, extract(sha256, input, salt), Uint8Array.of(0, 48), 48)
    const sk = bytesToBigIntBE(okm) % R
    if (sk !== 0n) return sk
  }
}

/** The BLS key pair of a seed of at least 32 bytes (the same pair as blst's `SecretKey.fromKeygen`). */
export const nobleBlsKeypairFromSeed = (seed: Uint8Array): BlsKeypair => {
  if (seed.length < 32) throw new RangeError(`a BLS key seed is at least 32 bytes, got ${seed.length}`)
  const secretKey = bigIntToBytesBE(ietfKeyGen(seed), SECRET_KEY_LENGTH)
  return { secretKey, publicKey: signatures.getPublicKey(secretKey).toBytes(true) }
}

/** Signs with the POP DST; throws (a defect) unless the secret key is a 32-byte scalar 0 < sk < r. */
export const nobleBlsSign = (keypair: BlsKeypair, message: Uint8Array): Uint8Array => {
  const sk = bytesToBigIntBE(keypair.secretKey)
  if (keypair.secretKey.length !== SECRET_KEY_LENGTH || sk === 0n || sk >= R) {
    throw new RangeError("a BLS secret key is a 32-byte scalar 0 < sk < r")
  }
  return signatures.Signature.toBytes(signatures.sign(signatures.hash(message, BLS_POP_DST), keypair.secretKey))
}

/** A validated public key (48 bytes, on the curve, in G1, not the zero point), or `null`. */
export const decodeBlsPublicKey = (bytes: Uint8Array): G1Point | null => {
  if (bytes.length !== KEY_LENGTH) return null
  try {
    const point = G1.fromBytes(bytes) // curve and subgroup checks
    return point.is0() ? null : point
  } catch {
    return null
  }
}

/** A validated signature (96 bytes compressed, on the curve, in G2, not the zero point), or `null`. */
export const decodeBlsSignature = (bytes: Uint8Array): G2Point | null => {
  if (bytes.length !== SIGNATURE_LENGTH) return null
  try {
    const point = signatures.Signature.fromBytes(bytes) // compressed only; curve and subgroup checks
    return point.is0() ? null : point
  } catch {
    return null
  }
}

/** One pairing check e(pk, H(m)) = e(G1, sig), for a validated key and signature. */
export const nobleBlsVerifyPoints = (publicKey: G1Point, message: Uint8Array, signature: G2Point): boolean =>
  signatures.verify(signature, signatures.hash(message, BLS_POP_DST), publicKey)

interface DecodedKeySet {
  /** Copies of the keys, compared on every use: an id reused with other keys is decoded afresh. */
  readonly keys: ReadonlyArray<Uint8Array>
  /** Decoded lazily, per key: `undefined` = not decoded yet, `null` = invalid. */
  readonly points: Array<G1Point | null | undefined>
}

/** Decoded key sets by id, least recently used first. */
const keySets = new Map<string, DecodedKeySet>()

const decodedKeySet = (keySet: BlsKeySet): DecodedKeySet => {
  const cached = keySets.get(keySet.id)
  if (
    cached !== undefined &&
    cached.keys.length === keySet.keys.length &&
    cached.keys.every((key, k) => bytesEqual(key, keySet.keys[k]!))
  ) {
    keySets.delete(keySet.id)
    keySets.set(keySet.id, cached)
    return cached
  }
  const entry: DecodedKeySet = { keys: keySet.keys.map((key) => Uint8Array.from(key)), points: [] }
  keySets.delete(keySet.id)
  keySets.set(keySet.id, entry)
  if (keySets.size > MAX_KEY_SETS) keySets.delete(keySets.keys().next().value!)
  return entry
}

/** The aggregated key of the signers, or `null` if the bitmap, a signer key or the sum is invalid. */
const aggregateOf = (keySet: BlsKeySet, signers: Uint8Array): G1Point | null => {
  const n = keySet.keys.length
  if (signers.length !== Math.ceil(n / 8)) return null
  if (n % 8 !== 0 && signers[signers.length - 1]! >> n % 8 !== 0) return null // a bit past n
  const decoded = decodedKeySet(keySet)
  let aggregate: G1Point | undefined
  for (let i = 0; i < n; i++) {
    if (((signers[i >> 3]! >> (i & 7)) & 1) === 0) continue
    let point = decoded.points[i]
    if (point === undefined) {
      point = decodeBlsPublicKey(decoded.keys[i]!)
      decoded.points[i] = point
    }
    if (point === null) return null
    aggregate = aggregate === undefined ? point : aggregate.add(point)
  }
  return aggregate === undefined || aggregate.is0() ? null : aggregate
}

/** The verdict on one aggregate signature: the rules of the module comment, then one pairing check. */
export const nobleVerifyAggregate = (item: AggregateItem): boolean => {
  if (item.signature.length !== SIGNATURE_LENGTH) return false
  const publicKey = aggregateOf(item.keySet, item.signers)
  if (publicKey === null) return false
  const signature = decodeBlsSignature(item.signature)
  if (signature === null) return false
  return nobleBlsVerifyPoints(publicKey, item.message, signature)
}
