/**
 * Request validation on its own: the SignedNodeInfo bound is the largest one that encodes, the
 * FetchBlocks count is checked without touching the refs, and FetchCommits agrees with its rule for
 * every u32 pair.
 */
import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import * as fc from "fast-check"
import { encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import { MAX_ADDRESS_BYTES, MAX_NODE_ADDRESSES } from "../../../src/domain/limits.js"
import { MAX_OWN_INFO_BYTES, U32_MAX } from "../../../src/layers/server/constants.js"
import { validateRequest } from "../../../src/layers/server/requests.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import { testPeerId } from "../network/fixtures.js"

const code = (path: string, request: unknown) => Option.map(validateRequest(path, request), (status) => status.code)

describe("request validation", () => {
  it("the ownInfo bound is exactly the largest SignedNodeInfo", () => {
    const largest = encodeSignedNodeInfo({
      info: {
        peerId: testPeerId(1),
        addresses: Array.from({ length: MAX_NODE_ADDRESSES }, () => "a".repeat(MAX_ADDRESS_BYTES)),
        timestampMs: Number.MAX_SAFE_INTEGER,
        role: "FullNode",
        capabilities: U32_MAX
      },
      signature: new Uint8Array(64)
    })
    expect(largest.length).toBe(MAX_OWN_INFO_BYTES)
    expect(code(P2pMethods.GetKnownPeers.path, { ownInfo: largest })).toEqual(Option.none())
  })

  it("FetchBlocks: an over-long list is refused without reading one element", () => {
    let reads = 0
    const refs = new Proxy(new Array<Uint8Array>(2_000_000), {
      get: (target, key, receiver) => {
        if (typeof key === "string" && /^\d+$/.test(key)) reads++
        return Reflect.get(target, key, receiver)
      }
    })
    expect(code(P2pMethods.FetchBlocks.path, { blockRefs: refs })).toEqual(Option.some("RESOURCE_EXHAUSTED"))
    expect(reads).toBe(0)
  })

  it("routes other than the six are not looked at", () => {
    expect(validateRequest("/soma.test.v1.Other/Method", { anything: 1 })).toEqual(Option.none())
  })

  it.prop(
    "FetchCommits: valid exactly when 1 ≤ start ≤ end ≤ u32 max, and a refusal names the field",
    [
      fc.oneof(fc.constantFrom(0, 1, 2, U32_MAX - 1, U32_MAX), fc.integer({ min: 0, max: U32_MAX })),
      fc.oneof(fc.constantFrom(0, 1, 2, U32_MAX - 1, U32_MAX), fc.integer({ min: 0, max: U32_MAX }))
    ],
    ([start, end]) => {
      const refusal = validateRequest(P2pMethods.FetchCommits.path, { start, end })
      expect(Option.isNone(refusal)).toBe(start >= 1 && end >= start)
      if (Option.isSome(refusal)) {
        expect(refusal.value.code).toBe("INVALID_ARGUMENT")
        expect(refusal.value.detail).toMatch(start < 1 ? /^FetchCommits\.start: / : /^FetchCommits\.end: /)
      }
    }
  )
})
