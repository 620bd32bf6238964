/**
 * Authority certificates (DESIGN.md §3): which members of an epoch's committee signed, as a bitmap over
 * `AuthorityIndex`, and one BLS12-381 aggregate of their signatures. A certificate is ~100 bytes
 * whatever the committee size, and costs one pairing check instead of one check per signer.
 *
 * The bitmap has exactly ⌈n/8⌉ bytes for a committee of n, bit i = `(bitmap[i >> 3] >> (i & 7)) & 1`,
 * and no bit at or past n: one canonical encoding per signer set, checked before any pairing.
 */
import { boundedBytes, fixedBytes, struct } from "./codec.js"
import { authorityAt, type Committee } from "./committee.js"
import { MAX_SIGNERS_BITMAP_BYTES } from "./limits.js"
import { BlsSignature, BoundedBytes } from "./primitives.js"

/** Bytes of an aggregate signature (compressed G2). */
export const AGGREGATE_SIGNATURE_BYTES = 96

/** A signers bitmap (its exact length depends on the committee, checked by `signersViolation`). */
export const SignersBitmap = BoundedBytes(MAX_SIGNERS_BITMAP_BYTES, "signers")

/** Schema fields shared by every certified object (transaction certificates, epoch changes). */
export const certificateFields = { signers: SignersBitmap, aggregateSignature: BlsSignature }

/** BCS fields shared by every certified object. */
export const certificateBcsFields = {
  signers: boundedBytes(MAX_SIGNERS_BITMAP_BYTES, "signers"),
  aggregateSignature: fixedBytes(AGGREGATE_SIGNATURE_BYTES, "aggregateSignature")
}

/** The BCS layout of a bare certificate (tests and tools). */
export const CertificateBcs = struct("Certificate", certificateBcsFields)

/** Bytes of a signers bitmap for a committee of `n`. */
export const signersBitmapLength = (n: number): number => Math.ceil(n / 8)

/** The bitmap of a set of authority indices in a committee of `n` (indices outside it are a bug). */
export const signersBitmap = (indices: Iterable<number>, n: number): Uint8Array => {
  const bitmap = new Uint8Array(signersBitmapLength(n))
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`signer ${i} outside a committee of ${n}`)
    bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7))
  }
  return bitmap
}

/** The signer indices of a bitmap, ascending. */
export const signersOf = (bitmap: Uint8Array): Array<number> => {
  const out: Array<number> = []
  for (let byte = 0; byte < bitmap.length; byte++) {
    const bits = bitmap[byte] as number
    if (bits === 0) continue
    for (let bit = 0; bit < 8; bit++) if ((bits >> bit) & 1) out.push(byte * 8 + bit)
  }
  return out
}

/** What is wrong with a signers bitmap, before any signature is looked at. */
export type SignersFault = "WrongBitmapLength" | "SignerPastCommittee" | "NoSigner"

/**
 * The first shape rule the bitmap breaks for a committee, or null: exactly ⌈n/8⌉ bytes, no bit past
 * n, at least one signer. Stake is checked separately (`signersStake`).
 */
export const signersViolation = (
  committee: Committee,
  bitmap: Uint8Array
): { readonly fault: SignersFault; readonly detail: string } | null => {
  const n = committee.authorities.length
  const expected = signersBitmapLength(n)
  if (bitmap.length !== expected) return { fault: "WrongBitmapLength", detail: `signers bitmap of ${bitmap.length} bytes, committee of ${n} needs ${expected}` }
  const lastBits = n & 7
  if (lastBits !== 0 && ((bitmap[expected - 1] as number) >> lastBits) !== 0)
    return { fault: "SignerPastCommittee", detail: `a signer bit at or past ${n}` }
  if (bitmap.every((b) => b === 0)) return { fault: "NoSigner", detail: "no signer" }
  return null
}

/** Stake of the signers of a well-shaped bitmap (each index once by construction). */
export const signersStake = (committee: Committee, bitmap: Uint8Array): number => {
  let stake = 0
  for (const i of signersOf(bitmap)) stake += authorityAt(committee, i)?.stake ?? 0
  return stake
}
