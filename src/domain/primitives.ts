/**
 * Schema building blocks shared by the data model: integer widths of DESIGN.md §3, fixed-size byte
 * strings (digests, keys, signatures) that are hex in JSON (config files) and `Uint8Array` in memory.
 */
import { Schema } from "effect"

/** u32 (rounds, authority indices, commit indices). */
export const U32 = Schema.Int.pipe(Schema.between(0, 0xffff_ffff))
/** u64 restricted to safe integers (epochs, timestamps, stakes, nonces); see codec.ts `u64`. */
export const U64 = Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER))

const bytesOfLength = (length: number, what: string) =>
  Schema.Uint8ArrayFromHex.pipe(
    Schema.filter((bytes) => bytes.length === length || `${what} must be ${length} bytes, got ${bytes.length}`),
    Schema.annotations({
      identifier: what,
      arbitrary: () => (fc) => fc.uint8Array({ minLength: length, maxLength: length })
    })
  )

/** Blake2b-256 digest. */
export const Digest = bytesOfLength(32, "Digest")
/** Ed25519 public key. */
export const PublicKey = bytesOfLength(32, "PublicKey")
/** Ed25519 signature. */
export const Signature = bytesOfLength(64, "Signature")
/** BLS12-381 min-pk public key: a compressed G1 point (authority keys). */
export const BlsPublicKey = bytesOfLength(48, "BlsPublicKey")
/** BLS12-381 min-pk signature: a compressed G2 point (certificates, proofs of possession). */
export const BlsSignature = bytesOfLength(96, "BlsSignature")

/** A byte string of at most `max` bytes (hex in JSON). */
export const BoundedBytes = (max: number, what: string) =>
  Schema.Uint8ArrayFromHex.pipe(
    Schema.filter((bytes) => bytes.length <= max || `${what} must be at most ${max} bytes, got ${bytes.length}`),
    Schema.annotations({ identifier: what, arbitrary: () => (fc) => fc.uint8Array({ maxLength: Math.min(max, 64) }) })
  )

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8")

/** A string of at most `max` UTF-8 bytes. */
export const BoundedString = (max: number, what: string) =>
  Schema.String.pipe(Schema.filter((s) => utf8Length(s) <= max || `${what} must be at most ${max} bytes`))

/** 32 zero bytes: the `previousDigest` of commit 1. */
export const ZERO_DIGEST: Uint8Array = new Uint8Array(32)
