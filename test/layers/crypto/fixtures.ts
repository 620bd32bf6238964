/**
 * Test fixtures for the Crypto layers: RFC 8032 §7.1 vectors and hand-made Ed25519 edge cases built
 * with noble's Point API, plus "naive" reference checks (no pre-check) that show each edge case is a
 * real trap: something a looser verifier would accept.
 */
import { verify as opensslVerify } from "node:crypto"
import * as ed from "@noble/ed25519"
import { sha512 } from "@noble/hashes/sha2.js"
import type { VerifyItem } from "../../../src/services/Crypto.js"

ed.hashes.sha512 = sha512
const { Point } = ed
export const L = Point.CURVE().n
export const P = Point.CURVE().p

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"))
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex")
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** 32-byte little-endian encoding of n (n < 2^256). */
export const le32 = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32)
  let v = n
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}
export const fromLE = (b: Uint8Array): bigint => {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] ?? 0)
  return n
}
export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => ed.etc.concatBytes(...parts)

/** k = SHA-512(R ‖ A ‖ M) mod L over the raw bytes, as every verifier computes it. */
export const challenge = (R: Uint8Array, A: Uint8Array, M: Uint8Array): bigint => fromLE(sha512(concat(R, A, M))) % L

// ---------------------------------------------------------------------------------------------------
// RFC 8032 §7.1 test vectors (Ed25519)

export interface RfcVector {
  readonly name: string
  readonly seed: string
  readonly publicKey: string
  readonly message: string
  readonly signature: string
}

const TEST_1024_MESSAGE =
  "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"

export const RFC8032_VECTORS: ReadonlyArray<RfcVector> = [
  {
    name: "TEST 1",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
  },
  {
    name: "TEST 2",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
  },
  {
    name: "TEST 3",
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
  },
  {
    name: "TEST 1024",
    seed: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    publicKey: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    message: TEST_1024_MESSAGE,
    signature:
      "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"
  },
  {
    name: "TEST SHA(abc)",
    seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    publicKey: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    // SHA-512("abc")
    message:
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    signature:
      "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"
  }
]

// ---------------------------------------------------------------------------------------------------
// Reference checks without any pre-check, to show what a looser verifier would do

/** OpenSSL's Ed25519 verify on the raw inputs (no strict pre-check). `false` on malformed lengths. */
export const opensslUnchecked = (item: VerifyItem): boolean => {
  if (item.publicKey.length !== 32 || item.signature.length !== 64) return false
  try {
    const x = Buffer.from(item.publicKey).toString("base64url")
    return opensslVerify(null, item.message, { key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" }, item.signature)
  } catch {
    return false
  }
}

const decodeLoose = (bytes: Uint8Array): ed.Point | undefined => {
  try {
    return Point.fromBytes(bytes, true) // ZIP-215 decoding: accepts y ≥ p and x = 0 with a sign bit
  } catch {
    return undefined
  }
}

/** The cofactored equation [8]([S]B − R − [k]A) = O with loose decoding and S < L only (ZIP-215-like). */
export const cofactoredHolds = (item: VerifyItem): boolean => {
  const A = decodeLoose(item.publicKey)
  const R = decodeLoose(item.signature.subarray(0, 32))
  const s = fromLE(item.signature.subarray(32))
  if (A === undefined || R === undefined || s >= L) return false
  const k = challenge(item.signature.subarray(0, 32), item.publicKey, item.message)
  return Point.BASE.multiply(s, false).subtract(R).subtract(A.multiply(k, false)).clearCofactor().is0()
}

/** The cofactorless equation [S]B − [k]A = R compared as points (decoding R loosely), S < L only. */
export const cofactorlessPointsEqual = (item: VerifyItem): boolean => {
  const A = decodeLoose(item.publicKey)
  const R = decodeLoose(item.signature.subarray(0, 32))
  const s = fromLE(item.signature.subarray(32))
  if (A === undefined || R === undefined || s >= L) return false
  const k = challenge(item.signature.subarray(0, 32), item.publicKey, item.message)
  return Point.BASE.multiply(s, false).subtract(A.multiply(k, false)).equals(R)
}

// ---------------------------------------------------------------------------------------------------
// Edge cases

/** A fixed prime-order key pair given by its scalar (not derived from a seed: we need the scalar). */
const a = 0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefn % L
const A0 = Point.BASE.multiply(a)
const A0bytes = A0.toBytes()

/** A point of order 8 (canonical encoding). */
export const T8 = Point.fromHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")

/** The 8 small-order points, computed (not copied) as multiples of T8. */
export const SMALL_ORDER_POINTS: ReadonlyArray<ed.Point> = Array.from({ length: 8 }, (_, i) =>
  i === 0 ? Point.ZERO : T8.multiply(BigInt(i), false)
)

/** Signs M for public key bytes `Abytes` with scalar `a` and nonce point R = [r]B + `Rextra`. */
const craft = (Abytes: Uint8Array, scalar: bigint, r: bigint, M: Uint8Array, Rextra: ed.Point = Point.ZERO) => {
  const R = Point.BASE.multiply(r).add(Rextra).toBytes()
  const k = challenge(R, Abytes, M)
  const S = (r + k * scalar) % L
  return { item: { publicKey: Abytes, message: M, signature: concat(R, le32(S)) }, k }
}

/** One edge case: the strict verdict both layers must give, and whether a naive check would accept. */
export interface EdgeCase {
  readonly name: string
  readonly item: VerifyItem
  /** The verdict of strict, cofactorless verification (what both layers must return). */
  readonly expected: boolean
  /** Looser verifiers that accept this input: the proof that the case is a real trap. */
  readonly naiveAccepts?: ReadonlyArray<NaiveVerifier>
}

/** Looser verifiers: OpenSSL without the pre-check, the cofactored equation, point (not byte) equality. */
export type NaiveVerifier = "openssl" | "cofactored" | "pointEquality"

export const NAIVE_VERIFIERS: Record<NaiveVerifier, (item: VerifyItem) => boolean> = {
  openssl: (item) => opensslUnchecked(item),
  cofactored: (item) => cofactoredHolds(item),
  pointEquality: (item) => cofactorlessPointsEqual(item)
}

/** Finds the first message (by counter) for which `predicate(k)` holds. */
const findMessage = (
  prefix: string,
  build: (M: Uint8Array) => { item: VerifyItem; k: bigint },
  predicate: (k: bigint) => boolean
) => {
  for (let i = 0; i < 10_000; i++) {
    const built = build(utf8(`${prefix} ${i}`))
    if (predicate(built.k)) return built
  }
  throw new Error(`no message found for ${prefix}`)
}

/** A valid signature by the fixed key over `M` (R = [r]B). */
export const validFixed = (M: Uint8Array, r = 7n) => craft(A0bytes, a, r, M).item

const withS = (item: VerifyItem, S: bigint): VerifyItem => ({
  ...item,
  signature: concat(item.signature.subarray(0, 32), le32(S))
})

/** Signature (R, S = k·a) whose R is an arbitrary encoding `Rbytes` of the identity: [S]B − [k]A = O. */
const identityR = (Rbytes: Uint8Array, M: Uint8Array): VerifyItem => {
  const k = challenge(Rbytes, A0bytes, M)
  return { publicKey: A0bytes, message: M, signature: concat(Rbytes, le32((k * a) % L)) }
}

/** Non-canonical encodings used below. */
export const NON_CANONICAL = {
  /** y = p + 1 ≡ 1: the identity with y ≥ p. */
  identityYPlusP: le32(P + 1n),
  /** y = 1 with the sign bit set: the identity with x = 0 and x_0 = 1. */
  identitySignBit: (() => {
    const b = le32(1n)
    b[31] = (b[31] ?? 0) | 0x80
    return b
  })(),
  /** y = p ≡ 0: a point of order 4 with y ≥ p. */
  order4YPlusP: le32(P),
  /** y = p + 3 ≡ 3: a point of large order (3 is a valid y) with y ≥ p. */
  largeOrderYPlusP: le32(P + 3n),
  /** y = p − 1 with the sign bit set: the point of order 2 with x = 0 and x_0 = 1. */
  order2SignBit: (() => {
    const b = le32(P - 1n)
    b[31] = (b[31] ?? 0) | 0x80
    return b
  })()
} as const

/**
 * Small-order public key T with a signature that satisfies the cofactorless equation
 * [S]B − [k]T = R: S = 0 and R = −[k]T, searching messages until R's encoding gives back that k.
 */
const smallOrderForgery = (T: ed.Point, index: number): VerifyItem => {
  const Tbytes = T.toBytes()
  for (let i = 0; i < 10_000; i++) {
    const M = utf8(`small order ${index} / ${i}`)
    for (const R of SMALL_ORDER_POINTS) {
      const Rbytes = R.toBytes()
      const k = challenge(Rbytes, Tbytes, M)
      const expectedR = k === 0n ? Point.ZERO : T.multiply(k, false).negate()
      if (expectedR.equals(R)) return { publicKey: Tbytes, message: M, signature: concat(Rbytes, le32(0n)) }
    }
  }
  throw new Error(`no forgery found for small-order point ${index}`)
}

/** Small-order key with a non-canonical encoding and R = identity, S = 0, k ≡ 0 mod ord(T). */
const nonCanonicalSmallOrderForgery = (Abytes: Uint8Array, name: string): VerifyItem => {
  const I = Point.ZERO.toBytes()
  for (let i = 0; i < 10_000; i++) {
    const M = utf8(`${name} ${i}`)
    const item = { publicKey: Abytes, message: M, signature: concat(I, le32(0n)) }
    if (cofactorlessPointsEqual(item)) return item
  }
  throw new Error(`no forgery found for ${name}`)
}

const mixedOrderKey = A0.add(T8).toBytes()

/** Every hand-made edge case, with the strict verdict. */
export const edgeCases = (): ReadonlyArray<EdgeCase> => {
  const M = utf8("edge case message")
  const valid = validFixed(M)
  const S = fromLE(valid.signature.subarray(32))
  const cases: Array<EdgeCase> = [
    { name: "control: valid signature by a prime-order key", item: valid, expected: true },
    { name: "S + L (malleated copy of a valid signature)", item: withS(valid, S + L), expected: false },
    { name: "S = L", item: withS(valid, L), expected: false },
    { name: "S = 2^256 − 1", item: withS(valid, (1n << 256n) - 1n), expected: false },
    {
      name: "control: R = canonical identity, S = k·a (valid under every verifier)",
      item: identityR(Point.ZERO.toBytes(), M),
      expected: true
    },
    { name: "non-canonical R: identity with y = p + 1", item: identityR(NON_CANONICAL.identityYPlusP, M), expected: false, naiveAccepts: ["cofactored", "pointEquality"] },
    { name: "non-canonical R: identity with sign bit", item: identityR(NON_CANONICAL.identitySignBit, M), expected: false, naiveAccepts: ["cofactored", "pointEquality"] },
    {
      name: "non-canonical A: identity with y = p + 1, R = identity, S = 0",
      item: nonCanonicalSmallOrderForgery(NON_CANONICAL.identityYPlusP, "A = p+1"),
      expected: false,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"]
    },
    {
      name: "non-canonical A: identity with sign bit, R = identity, S = 0",
      item: nonCanonicalSmallOrderForgery(NON_CANONICAL.identitySignBit, "A = 1 | sign"),
      expected: false,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"]
    },
    {
      name: "non-canonical A: order-4 point with y = p, R = identity, S = 0",
      item: nonCanonicalSmallOrderForgery(NON_CANONICAL.order4YPlusP, "A = p"),
      expected: false,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"]
    },
    {
      name: "non-canonical A: order-2 point with sign bit, R = identity, S = 0",
      item: nonCanonicalSmallOrderForgery(NON_CANONICAL.order2SignBit, "A = p-1 | sign"),
      expected: false,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"]
    },
    {
      name: "non-canonical A: large-order point with y = p + 3 (arbitrary signature)",
      item: { publicKey: NON_CANONICAL.largeOrderYPlusP, message: M, signature: valid.signature },
      expected: false
    },
    {
      name: "A not on the curve (y = 2)",
      item: { publicKey: le32(2n), message: M, signature: valid.signature },
      expected: false
    },
    {
      name: "R not on the curve (y = 2)",
      item: { ...valid, signature: concat(le32(2n), valid.signature.subarray(32)) },
      expected: false
    },
    {
      name: "small-order A = identity, R = identity, S = 0 (verifies for any message naively)",
      item: { publicKey: Point.ZERO.toBytes(), message: M, signature: concat(Point.ZERO.toBytes(), le32(0n)) },
      expected: false,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"]
    },
    ...SMALL_ORDER_POINTS.map((T, i) => ({
      name: `small-order A #${i} (${T.toHex().slice(0, 8)}…) with a forged signature`,
      item: smallOrderForgery(T, i),
      expected: false,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"] as const
    })),
    {
      name: "mixed-order A + T8, k ≢ 0 mod 8: cofactored accepts, cofactorless rejects",
      item: findMessage("mixed-order reject", (m) => craft(mixedOrderKey, a, 11n, m), (k) => k % 8n !== 0n).item,
      expected: false,
      naiveAccepts: ["cofactored"]
    },
    {
      name: "mixed-order A + T8, k ≡ 4 mod 8: cofactored accepts, cofactorless rejects",
      item: findMessage("mixed-order reject 4", (m) => craft(mixedOrderKey, a, 13n, m), (k) => k % 8n === 4n).item,
      expected: false,
      naiveAccepts: ["cofactored"]
    },
    {
      name: "mixed-order A + T8, k ≡ 0 mod 8: both equations hold (accepted, by both layers)",
      item: findMessage("mixed-order accept", (m) => craft(mixedOrderKey, a, 17n, m), (k) => k % 8n === 0n).item,
      expected: true,
      naiveAccepts: ["openssl", "cofactored", "pointEquality"]
    },
    {
      name: "R + T8 (torsion in R): cofactored accepts, cofactorless rejects",
      item: craft(A0bytes, a, 19n, M, T8).item,
      expected: false,
      naiveAccepts: ["cofactored"]
    },
    { name: "31-byte public key", item: { ...valid, publicKey: valid.publicKey.subarray(0, 31) }, expected: false },
    { name: "33-byte public key", item: { ...valid, publicKey: concat(valid.publicKey, new Uint8Array(1)) }, expected: false },
    { name: "63-byte signature", item: { ...valid, signature: valid.signature.subarray(0, 63) }, expected: false },
    { name: "65-byte signature", item: { ...valid, signature: concat(valid.signature, new Uint8Array(1)) }, expected: false },
    { name: "empty public key and signature", item: { publicKey: new Uint8Array(0), message: M, signature: new Uint8Array(0) }, expected: false },
    { name: "control: empty message, valid signature", item: validFixed(new Uint8Array(0)), expected: true },
    {
      name: "empty message, signature of another message",
      item: { ...validFixed(utf8("x")), message: new Uint8Array(0) },
      expected: false
    }
  ]
  return cases
}
