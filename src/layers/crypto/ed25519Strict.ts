/**
 * The strict Ed25519 pre-check shared by `NodeCryptoLayer` and `NobleCryptoLayer`.
 *
 * Both layers end with the same cofactorless equation, encode([S]B − [k]A) == R bytes (OpenSSL does
 * exactly this; the noble layer computes it by hand). What differs between libraries is what they let
 * through *before* that equation, so every input first goes through this one function, and a verdict
 * can never split between the layers (a split verdict on a signature is a consensus fork).
 *
 * What it rejects, and why:
 * - wrong lengths (public key ≠ 32, signature ≠ 64): malformed input is `false`, never an exception;
 * - S ≥ L: RFC 8032 §5.1.7 step 1 requires 0 ≤ S < L, otherwise (R, S + L) is a second valid
 *   signature for the same message (malleability);
 * - a non-canonical encoding of A or R: RFC 8032 §5.1.3 decoding fails when y ≥ p, or when x = 0 and
 *   the sign bit x_0 = 1. OpenSSL 3.0's ref10 decoder skips both checks for A (it reduces y mod p and
 *   ignores a sign bit on x = 0) and hashes the raw bytes, so one point has several accepted keys;
 * - small-order public keys (the 8 points of the torsion subgroup): beyond RFC 8032, the policy of
 *   libsodium and of noble's strict mode. With A of small order, [k]A takes at most 8 values, so a
 *   signature (R, S) can be forged that verifies for many messages (e.g. A = identity, R = identity,
 *   S = 0 verifies for *every* message under OpenSSL).
 *
 * Mixed-order public keys (A = prime-order point + torsion point) are deliberately NOT rejected here:
 * detecting them needs a scalar multiplication by L. The cofactorless equation then decides, the
 * same way in both layers.
 *
 * Everything here is byte comparison: no field arithmetic, cheap enough to run on the main thread
 * in front of the worker pool.
 */

/** Length of an Ed25519 public key (compressed point A). */
export const PUBLIC_KEY_LENGTH = 32
/** Length of an Ed25519 signature (R ‖ S). */
export const SIGNATURE_LENGTH = 64

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian (the prime subgroup order). */
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
])

/**
 * Canonical encodings of the 8 points of order dividing 8. Once an encoding is known to be
 * canonical, a point has exactly one encoding, so byte equality with this list is complete.
 */
const SMALL_ORDER_ENCODINGS: ReadonlyArray<Uint8Array> = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity (order 1)
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // (0, −1), order 2
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4
  "0000000000000000000000000000000000000000000000000000000000000080", // order 4
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85" // order 8
].map((hex) => Uint8Array.from(Buffer.from(hex, "hex")))

/** Whether the 32-byte little-endian integer at `bytes[offset..offset+32)` is < L. */
export const isCanonicalScalar = (bytes: Uint8Array, offset = 0): boolean => {
  // Compare from the most significant byte down; the first difference decides.
  for (let i = 31; i >= 0; i--) {
    const b = bytes[offset + i] ?? 0
    const l = L_LE[i] ?? 0
    if (b < l) return true
    if (b > l) return false
  }
  return false // equal to L
}

/**
 * Whether the 32-byte point encoding at `bytes[offset..offset+32)` is canonical in the sense of
 * RFC 8032 §5.1.3: y < p = 2^255 − 19, and not (x = 0 with the sign bit set). x = 0 happens only for
 * y = 1 and y = p − 1, so both conditions are byte tests. Whether y is on the curve at all is left to
 * the decoder of each library (both reject such points; the equation can never hold for them).
 */
export const isCanonicalPointEncoding = (bytes: Uint8Array, offset = 0): boolean => {
  const top = bytes[offset + 31] ?? 0
  const sign = top & 0x80
  const y31 = top & 0x7f
  // y ≥ p  ⇔  y31 = 0x7f, bytes 30..1 = 0xff and byte 0 ≥ 0xed (p = 0x7fff…ffed).
  let middleAllFF = true
  let middleAllZero = true
  for (let i = 1; i <= 30; i++) {
    const b = bytes[offset + i] ?? 0
    if (b !== 0xff) middleAllFF = false
    if (b !== 0x00) middleAllZero = false
  }
  const b0 = bytes[offset] ?? 0
  if (y31 === 0x7f && middleAllFF && b0 >= 0xed) return false
  if (sign !== 0) {
    // y = 1 (identity) or y = p − 1 (the point of order 2): x = 0, so a set sign bit is non-canonical.
    if (y31 === 0x00 && middleAllZero && b0 === 0x01) return false
    if (y31 === 0x7f && middleAllFF && b0 === 0xec) return false
  }
  return true
}

/** Whether the (canonical) point encoding at `bytes[offset..offset+32)` is one of the 8 small-order points. */
export const isSmallOrderEncoding = (bytes: Uint8Array, offset = 0): boolean => {
  for (const candidate of SMALL_ORDER_ENCODINGS) {
    let equal = true
    for (let i = 0; i < 32; i++) {
      if (bytes[offset + i] !== candidate[i]) {
        equal = false
        break
      }
    }
    if (equal) return true
  }
  return false
}

/**
 * The strict pre-check: `true` when (publicKey, signature) may go on to the cofactorless equation,
 * `false` when the input is rejected outright (see the module comment for each rule).
 */
export const strictPrecheck = (publicKey: Uint8Array, signature: Uint8Array): boolean =>
  publicKey.length === PUBLIC_KEY_LENGTH &&
  signature.length === SIGNATURE_LENGTH &&
  isCanonicalScalar(signature, 32) &&
  isCanonicalPointEncoding(signature, 0) &&
  isCanonicalPointEncoding(publicKey, 0) &&
  !isSmallOrderEncoding(publicKey, 0)
