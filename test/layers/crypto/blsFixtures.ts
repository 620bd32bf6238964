/**
 * BLS12-381 test fixtures: committees (key sets) from fixed seeds, signer bitmaps, aggregate
 * signatures, and hand-made invalid points — the point at infinity, and points that are on the curve
 * but outside the prime-order subgroup (built with noble's field arithmetic, since no honest signer
 * produces them). Fixtures are built with blst for speed; the layers under test only verify them.
 */
import { aggregateSignatures, SecretKey, Signature } from "@chainsafe/blst"
import { bls12_381 } from "@noble/curves/bls12-381.js"
import { signersBitmap, signersOf } from "../../../src/domain/certificate.js"
import { bigIntToBytesBE } from "../../../src/layers/crypto/nobleBls.js"
import type { AggregateItem, BlsKeySet } from "../../../src/services/Crypto.js"

const { Fp, Fp2 } = bls12_381.fields


/** A committee: its key set and the secret keys behind it (by authority index). */
export interface Committee {
  readonly keySet: BlsKeySet
  readonly secretKeys: ReadonlyArray<SecretKey>
}

/** A deterministic 32-byte seed for member `index` of committee `tag`. */
const seedOf = (tag: string, index: number): Uint8Array => {
  const seed = new Uint8Array(32)
  const text = new TextEncoder().encode(`${tag}/${index}`)
  seed.set(text.subarray(0, 32))
  seed[31] = index & 0xff
  return seed
}

/** A committee of `n` keys, derived from `tag` (equal tags, equal committees). */
export const makeCommittee = (tag: string, n: number): Committee => {
  const secretKeys = Array.from({ length: n }, (_, i) => SecretKey.fromKeygen(seedOf(tag, i)))
  return {
    keySet: { id: `committee:${tag}:${n}`, keys: secretKeys.map((sk) => sk.toPublicKey().toBytes()) },
    secretKeys
  }
}

/** The same committee with its key `index` replaced by `key` (and, unless given, the same id). */
export const withKey = (keySet: BlsKeySet, index: number, key: Uint8Array, id = keySet.id): BlsKeySet => ({
  id,
  keys: keySet.keys.map((k, i) => (i === index ? key : k))
})

/** The signer bitmap over `n` keys with the bits of `indices` set (⌈n/8⌉ bytes). */
export const bitmapOf = (n: number, indices: Iterable<number>): Uint8Array => signersBitmap(indices, n)

export { signersOf }

/** The aggregate of 96-byte signatures (blst). */
export const aggregate = (signatures: ReadonlyArray<Uint8Array>): Uint8Array =>
  aggregateSignatures(signatures.map((s) => Signature.fromBytes(s, true))).toBytes()

const R = bls12_381.fields.Fr.ORDER

/**
 * A valid certificate: the aggregate signature of `signers` of `committee` over `message`. Built as ONE
 * signature by the sum of the signers' secret keys, which is the aggregate of their signatures
 * (Σ skᵢ·H(m) = (Σ skᵢ)·H(m)) at 1/k of the cost; the suites also aggregate real signatures.
 */
export const certify = (committee: Committee, signers: ReadonlyArray<number>, message: Uint8Array): AggregateItem => {
  const sum = signers.reduce((acc, i) => (acc + BigInt(`0x${Buffer.from(committee.secretKeys[i]!.toBytes()).toString("hex")}`)) % R, 0n)
  return {
    keySet: committee.keySet,
    signers: bitmapOf(committee.keySet.keys.length, signers),
    message,
    signature: SecretKey.fromBytes(bigIntToBytesBE(sum, 32)).sign(message).toBytes()
  }
}

/** `count` distinct indices out of `n`, sorted, from a seeded generator (mulberry32). */
export const pickSigners = (n: number, count: number, seed: number): ReadonlyArray<number> => {
  const chosen = new Set<number>()
  let state = seed >>> 0
  while (chosen.size < count) {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    chosen.add(((t ^ (t >>> 14)) >>> 0) % n)
  }
  return [...chosen].sort((a, b) => a - b)
}

/** Compressed encodings of the point at infinity: `c0` then zeros. */
export const INFINITY_PUBLIC_KEY: Uint8Array = (() => {
  const bytes = new Uint8Array(48)
  bytes[0] = 0xc0
  return bytes
})()
export const INFINITY_SIGNATURE: Uint8Array = (() => {
  const bytes = new Uint8Array(96)
  bytes[0] = 0xc0
  return bytes
})()

/**
 * A compressed G1 encoding of a point on y² = x³ + 4 that is NOT in the prime-order subgroup: the
 * smallest x ≥ `from` for which x³ + 4 is a square. (Almost every curve point is outside the subgroup,
 * whose index is the cofactor ≈ 2^126; the tests also assert it with noble.)
 */
export const g1OutsideSubgroup = (from = 1n): { readonly bytes: Uint8Array; readonly torsionFree: boolean } => {
  for (let x = from; ; x++) {
    const rhs = Fp.add(Fp.pow(x, 3n), 4n)
    let y: bigint
    try {
      y = Fp.sqrt(rhs)
    } catch {
      continue // not a square: no point with this x
    }
    if (!Fp.eql(Fp.sqr(y), rhs)) continue
    const bytes = bigIntToBytesBE(x, 48)
    bytes[0] = (bytes[0] ?? 0) | 0x80 // compressed; sort bit 0 picks one of ±y, both outside the subgroup
    return { bytes, torsionFree: bls12_381.G1.Point.fromAffine({ x, y }).isTorsionFree() }
  }
}

/**
 * A compressed G2 encoding (x = c1 ‖ c0) of a point on the twist y² = x³ + 4(1 + i) outside the
 * subgroup: the first x = c0 + i (c0 ≥ `from`) with a square right-hand side.
 */
export const g2OutsideSubgroup = (from = 1n): { readonly bytes: Uint8Array; readonly torsionFree: boolean } => {
  const b = Fp2.fromBigTuple([4n, 4n])
  for (let c0 = from; ; c0++) {
    const x = Fp2.fromBigTuple([c0, 1n])
    const rhs = Fp2.add(Fp2.pow(x, 3n), b)
    let y: typeof x
    try {
      y = Fp2.sqrt(rhs)
    } catch {
      continue
    }
    if (!Fp2.eql(Fp2.sqr(y), rhs)) continue
    const bytes = new Uint8Array(96)
    bytes.set(bigIntToBytesBE(x.c1, 48), 0)
    bytes.set(bigIntToBytesBE(x.c0, 48), 48)
    bytes[0] = (bytes[0] ?? 0) | 0x80
    return { bytes, torsionFree: bls12_381.G2.Point.fromAffine({ x, y }).isTorsionFree() }
  }
}

/** Flips bit `bit` of byte `position` (mod length) of `bytes` (a copy). */
export const flipBit = (bytes: Uint8Array, position: number, bit: number): Uint8Array => {
  const copy = Uint8Array.from(bytes)
  if (copy.length === 0) return Uint8Array.of(1 << bit)
  const index = position % copy.length
  copy[index] = (copy[index] ?? 0) ^ (1 << bit)
  return copy
}
