import * as ed from "@noble/ed25519"
import { describe, expect, it } from "@effect/vitest"
import { NobleCryptoLayer } from "../../../src/layers/crypto/NobleCryptoLayer.js"
import { blsSuite } from "./blsSuite.js"
import { cryptoSuite } from "./cryptoSuite.js"
import { edgeCases } from "./fixtures.js"

cryptoSuite("noble", NobleCryptoLayer)
blsSuite("noble", NobleCryptoLayer)

describe("noble's own strict mode", () => {
  // Why NobleCryptoLayer computes the cofactorless equation itself instead of calling
  // ed.verify(…, { zip215: false }): noble's strict mode is cofactored, and would split from OpenSSL.
  it("accepts mixed-order keys and torsioned R that strict cofactorless verification rejects", () => {
    const split = edgeCases().filter((c) => c.naiveAccepts?.includes("cofactored") && !c.naiveAccepts.includes("openssl"))
    const torsionCases = split.filter((c) => c.name.includes("mixed-order") || c.name.includes("torsion in R"))
    expect(torsionCases.length).toBe(3)
    for (const c of torsionCases) {
      expect(c.expected).toBe(false)
      expect(ed.verify(c.item.signature, c.item.message, c.item.publicKey, { zip215: false })).toBe(true)
    }
  })
})
