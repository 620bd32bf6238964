/**
 * The shared strict pre-check, byte by byte, and proof that each hand-made edge case is a real trap
 * (a looser verifier — raw OpenSSL, the cofactored equation or point equality — accepts it).
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  isCanonicalPointEncoding,
  isCanonicalScalar,
  isSmallOrderEncoding,
  strictPrecheck
} from "../../../src/layers/crypto/ed25519Strict.js"
import { edgeCases, L, le32, NAIVE_VERIFIERS, P, SMALL_ORDER_POINTS, toHex } from "./fixtures.js"

const withSignBit = (bytes: Uint8Array): Uint8Array => {
  const copy = Uint8Array.from(bytes)
  copy[31] = (copy[31] ?? 0) | 0x80
  return copy
}

describe("ed25519Strict", () => {
  it("S < L at the boundary", () => {
    expect(isCanonicalScalar(le32(0n))).toBe(true)
    expect(isCanonicalScalar(le32(L - 1n))).toBe(true)
    expect(isCanonicalScalar(le32(L))).toBe(false)
    expect(isCanonicalScalar(le32(L + 1n))).toBe(false)
    expect(isCanonicalScalar(le32((1n << 256n) - 1n))).toBe(false)
    expect(isCanonicalScalar(le32(1n << 252n))).toBe(true) // below L = 2^252 + …
  })

  it.prop("S < L agrees with bigint comparison", [fc.bigInt({ min: 0n, max: (1n << 256n) - 1n })], ([n]) => {
    expect(isCanonicalScalar(le32(n))).toBe(n < L)
    const near = L - 64n + (n % 128n)
    expect(isCanonicalScalar(le32(near))).toBe(near < L)
  })

  it("y < p and the x = 0 sign rule", () => {
    expect(isCanonicalPointEncoding(le32(P - 1n))).toBe(true)
    expect(isCanonicalPointEncoding(le32(P))).toBe(false)
    expect(isCanonicalPointEncoding(le32(P + 18n))).toBe(false)
    expect(isCanonicalPointEncoding(withSignBit(le32(P)))).toBe(false)
    expect(isCanonicalPointEncoding(withSignBit(le32(P - 2n)))).toBe(true)
    // x = 0 only for y = ±1: the sign bit makes those encodings non-canonical
    expect(isCanonicalPointEncoding(le32(1n))).toBe(true)
    expect(isCanonicalPointEncoding(withSignBit(le32(1n)))).toBe(false)
    expect(isCanonicalPointEncoding(le32(P - 1n))).toBe(true)
    expect(isCanonicalPointEncoding(withSignBit(le32(P - 1n)))).toBe(false)
    expect(isCanonicalPointEncoding(withSignBit(le32(2n)))).toBe(true)
  })

  it.prop(
    "y < p agrees with bigint comparison (the sign bit aside)",
    [fc.bigInt({ min: 0n, max: (1n << 255n) - 1n }), fc.boolean()],
    ([y, sign]) => {
      const bytes = sign ? withSignBit(le32(y)) : le32(y)
      const xIsZero = y === 1n || y === P - 1n
      expect(isCanonicalPointEncoding(bytes)).toBe(y < P && !(sign && xIsZero))
      const near = P - 40n + (y % 59n) // stays below 2^255 (the sign bit)
      expect(isCanonicalPointEncoding(le32(near))).toBe(near < P)
    }
  )

  it("the small-order list is exactly the 8 torsion points (computed with noble)", () => {
    const computed = new Set(SMALL_ORDER_POINTS.map((p) => p.toHex()))
    expect(computed.size).toBe(8)
    for (const p of SMALL_ORDER_POINTS) {
      expect(p.isSmallOrder()).toBe(true)
      expect(isSmallOrderEncoding(p.toBytes())).toBe(true)
    }
    // and nothing else: a few prime-order points are not on the list
    for (const p of SMALL_ORDER_POINTS) {
      const shifted = p.add(SMALL_ORDER_POINTS[1]!.add(SMALL_ORDER_POINTS[0]!)).toBytes()
      expect(isSmallOrderEncoding(shifted)).toBe(computed.has(toHex(shifted)))
    }
    expect(isSmallOrderEncoding(le32(9n))).toBe(false)
  })

  it("strictPrecheck checks lengths first", () => {
    expect(strictPrecheck(new Uint8Array(31), new Uint8Array(64))).toBe(false)
    expect(strictPrecheck(new Uint8Array(33), new Uint8Array(64))).toBe(false)
    expect(strictPrecheck(le32(9n), new Uint8Array(63))).toBe(false)
    expect(strictPrecheck(le32(9n), new Uint8Array(65))).toBe(false)
    expect(strictPrecheck(le32(9n), new Uint8Array(64))).toBe(true) // y = 9: canonical, not small order
  })

  describe("each edge case is a real trap for a looser verifier", () => {
    for (const edge of edgeCases()) {
      if (edge.naiveAccepts === undefined) continue
      it(`${edge.name}: accepted by ${edge.naiveAccepts.join(", ")}`, () => {
        for (const verifier of edge.naiveAccepts ?? []) expect([verifier, NAIVE_VERIFIERS[verifier](edge.item)]).toEqual([verifier, true])
        // what OpenSSL alone would accept must be stopped by the pre-check itself
        if (!edge.expected && edge.naiveAccepts?.includes("openssl")) {
          expect(strictPrecheck(edge.item.publicKey, edge.item.signature)).toBe(false)
        }
      })
    }
  })
})
