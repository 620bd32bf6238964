/** The validity rules of a received NodeInfo: every reason to refuse one, and the boundaries. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import { encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import { nodeInfoSignedByWrongKey } from "../../../src/testkit/faults.js"
import { defaultPeerPolicy, MAX_FUTURE_SKEW_MS, MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { offenceOf, precheckNodeInfo, type NodeInfoContext } from "../../../src/layers/discovery/plan/nodeInfoRules.js"
import { looseSignedInfoBytes, nodeInfo, peerOf, signedInfo, signerOf, verifies } from "./nodeInfos.js"

const NOW = 1_000 * MAX_INFO_AGE_MS
const context: NodeInfoContext = { nowMs: NOW, self: peerOf(0), policy: defaultPeerPolicy }
const reasonOf = (bytes: Uint8Array, ctx: NodeInfoContext = context) =>
  Either.match(precheckNodeInfo(bytes, ctx), { onLeft: (r) => r.reason, onRight: () => "Accepted" })

describe("precheckNodeInfo", () => {
  it("accepts a well-formed, current NodeInfo of another node", () => {
    const signed = signedInfo(1, NOW)
    const checked = precheckNodeInfo(encodeSignedNodeInfo(signed), context)
    expect(Either.getOrThrow(checked)).toEqual(signed)
    expect(verifies(signed)).toBe(true)
  })

  it("refuses timestamps more than 30 s ahead, and accepts exactly 30 s", () => {
    expect(reasonOf(encodeSignedNodeInfo(signedInfo(1, NOW + MAX_FUTURE_SKEW_MS)))).toBe("Accepted")
    expect(reasonOf(encodeSignedNodeInfo(signedInfo(1, NOW + MAX_FUTURE_SKEW_MS + 1)))).toBe("FromTheFuture")
  })

  it("refuses NodeInfos 24 h old or older, and accepts younger ones", () => {
    expect(reasonOf(encodeSignedNodeInfo(signedInfo(1, NOW - MAX_INFO_AGE_MS + 1)))).toBe("Accepted")
    expect(reasonOf(encodeSignedNodeInfo(signedInfo(1, NOW - MAX_INFO_AGE_MS)))).toBe("Expired")
  })

  it("refuses our own NodeInfo (never stored), without charging the relayer", () => {
    const rejection = precheckNodeInfo(encodeSignedNodeInfo(signedInfo(0, NOW)), context)
    expect(Either.isLeft(rejection) && rejection.left.reason).toBe("Ours")
    expect(Either.isLeft(rejection) && offenceOf(rejection.left)).toBeUndefined()
  })

  it("refuses someone's own info that names another PeerId", () => {
    expect(reasonOf(encodeSignedNodeInfo(signedInfo(2, NOW)), { ...context, expectedPeerId: peerOf(1) })).toBe("WrongPeer")
  })

  it("refuses more than 4 addresses or an address over 256 bytes before looking further", () => {
    expect(reasonOf(looseSignedInfoBytes(1, NOW, ["a", "b", "c", "d"]))).toBe("Accepted")
    expect(reasonOf(looseSignedInfoBytes(1, NOW, ["a", "b", "c", "d", "e"]))).toBe("OverLimits")
    expect(reasonOf(looseSignedInfoBytes(1, NOW, ["x".repeat(256)]))).toBe("Accepted")
    expect(reasonOf(looseSignedInfoBytes(1, NOW, ["x".repeat(257)]))).toBe("OverLimits")
  })

  it("refuses garbage, truncated and padded encodings", () => {
    const bytes = encodeSignedNodeInfo(signedInfo(1, NOW))
    expect(reasonOf(new Uint8Array(0))).toBe("Malformed")
    expect(reasonOf(new Uint8Array(200).fill(0xff))).toBe("Malformed")
    expect(reasonOf(bytes.subarray(0, bytes.length - 1))).toBe("Malformed")
    expect(reasonOf(new Uint8Array([...bytes, 0]))).toBe("Malformed")
  })

  it("leaves the signature to the batch check: a forged NodeInfo passes the pre-check but does not verify", () => {
    const forged = nodeInfoSignedByWrongKey(nodeInfo(1, NOW), signerOf(9))
    expect(reasonOf(encodeSignedNodeInfo(forged))).toBe("Accepted")
    expect(verifies(forged)).toBe(false)
    // Changing any signed field after signing breaks the signature too (intent-prefixed message).
    const honest = signedInfo(1, NOW)
    expect(verifies({ ...honest, info: { ...honest.info, addresses: ["sim://evil"] } })).toBe(false)
  })

  it("checks a received NodeInfo's signature over the bytes received: any changed byte that still decodes fails", () => {
    const bytes = encodeSignedNodeInfo(signedInfo(1, NOW))
    const decoded = precheckNodeInfo(bytes, context)
    expect(Either.isRight(decoded) && verifies(decoded.right)).toBe(true)
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const mutated = Uint8Array.from(bytes)
        mutated[at] = (mutated[at] as number) ^ flip
        const checked = precheckNodeInfo(mutated, { ...context, nowMs: NOW, policy: { ...defaultPeerPolicy, maxFutureSkewMs: Number.MAX_SAFE_INTEGER, maxInfoAgeMs: Number.MAX_SAFE_INTEGER } })
        return Either.isLeft(checked) || !verifies(checked.right)
      }),
      { numRuns: 300 }
    )
  })

  it("charges forged or malformed NodeInfos as InvalidNodeInfo and stale or future ones as StaleNodeInfo", () => {
    expect(offenceOf({ reason: "BadSignature", peerId: peerOf(1) })).toBe("InvalidNodeInfo")
    expect(offenceOf({ reason: "OverLimits", detail: "" })).toBe("InvalidNodeInfo")
    expect(offenceOf({ reason: "WrongPeer", expected: peerOf(1), got: peerOf(2) })).toBe("InvalidNodeInfo")
    expect(offenceOf({ reason: "FromTheFuture", peerId: peerOf(1), timestampMs: 0 })).toBe("StaleNodeInfo")
    expect(offenceOf({ reason: "Expired", peerId: peerOf(1), timestampMs: 0 })).toBe("StaleNodeInfo")
  })
})
