/**
 * The wire protocol's descriptors and codecs: the six routes of DESIGN.md §4, strict protobuf decoding,
 * and the hand-written FetchBlocks encoder producing exactly the generated encoder's bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, HashMap } from "effect"
import fc from "fast-check"
import { releaseCallSlot, takeCallSlot } from "../../../src/layers/network/inbound.js"
import { fetchBlocksResponseCodec, P2pMethods } from "../../../src/proto/P2pMethods.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import { protoCodec } from "../../../src/services/Network.js"
import { testPeerId } from "./fixtures.js"

describe("P2pMethods", () => {
  it("describes the six RPCs of soma.p2p.v1.P2p", () => {
    expect(Object.values(P2pMethods).map((m) => [m.path, m.kind])).toEqual([
      ["/soma.p2p.v1.P2p/GetKnownPeers", "unary"],
      ["/soma.p2p.v1.P2p/GetCommitAvailability", "unary"],
      ["/soma.p2p.v1.P2p/GetCommitInfo", "unary"],
      ["/soma.p2p.v1.P2p/PushCommit", "unary"],
      ["/soma.p2p.v1.P2p/FetchCommits", "unary"],
      ["/soma.p2p.v1.P2p/FetchBlocks", "serverStream"]
    ])
  })

  it("round-trips every message, including the GetCommitInfo oneof and the optional commit ref", () => {
    const roundTrip = <A>(codec: { encode: (a: A) => Uint8Array; decode: (b: Uint8Array) => Either.Either<A, string> }, value: A) =>
      expect(Either.getOrThrow(codec.decode(codec.encode(value)))).toEqual(value)
    roundTrip(P2pMethods.GetKnownPeers.request, { ownInfo: new Uint8Array([1, 2]) })
    roundTrip(P2pMethods.GetKnownPeers.response, { ownInfo: new Uint8Array([3]), knownPeers: [new Uint8Array([4]), new Uint8Array([5, 6])] })
    roundTrip(P2pMethods.GetCommitAvailability.response, { highestSyncedCommit: 4_000_000_000, lowestAvailableCommit: 7, epoch: Number.MAX_SAFE_INTEGER })
    roundTrip(P2pMethods.GetCommitInfo.request, { query: { $case: "latest", value: {} } })
    roundTrip(P2pMethods.GetCommitInfo.request, { query: { $case: "index", value: 0 } })
    roundTrip(P2pMethods.GetCommitInfo.response, { commitRef: new Uint8Array(36).fill(9) })
    roundTrip(P2pMethods.GetCommitInfo.response, {})
    roundTrip(P2pMethods.PushCommit.request, { commitRef: new Uint8Array(36) })
    roundTrip(P2pMethods.FetchCommits.request, { start: 1, end: 100 })
    roundTrip(P2pMethods.FetchCommits.response, { commits: [new Uint8Array([1])], certifierRefs: [] })
    roundTrip(P2pMethods.FetchBlocks.request, { blockRefs: [new Uint8Array(48)] })
    roundTrip(P2pMethods.FetchBlocks.response, { blocks: [new Uint8Array(0), new Uint8Array(300).fill(1)] })
  })

  it("refuses garbage, truncation, a zero tag, and an epoch above 2^53 instead of rounding it", () => {
    const availability = P2pMethods.GetCommitAvailability.response
    const valid = availability.encode({ highestSyncedCommit: 300, lowestAvailableCommit: 1, epoch: 5 })
    expect(Either.isLeft(availability.decode(valid.subarray(0, valid.length - 1)))).toBe(true)
    expect(Either.isLeft(availability.decode(new Uint8Array([0x00, 0x08, 0x01])))).toBe(true)
    expect(Either.isLeft(availability.decode(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])))).toBe(true)
    // epoch (field 3, varint) = 2^60
    expect(Either.isLeft(availability.decode(new Uint8Array([0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])))).toBe(true)
  })

  it("decoding arbitrary bytes never throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const method of Object.values(P2pMethods)) {
          method.request.decode(bytes)
          method.response.decode(bytes)
        }
      })
    )
  })

  it("the FetchBlocks encoder writes exactly the generated encoder's bytes", () => {
    const generated = protoCodec(pb.FetchBlocksResponse)
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (blocks) => {
        expect(fetchBlocksResponseCodec.encode({ blocks })).toEqual(generated.encode({ blocks }))
      })
    )
    const big = [new Uint8Array(3 * 1024 * 1024).fill(5), new Uint8Array(200_000)]
    expect(Buffer.compare(Buffer.from(fetchBlocksResponseCodec.encode({ blocks: big })), Buffer.from(generated.encode({ blocks: big })))).toBe(0)
  })
})

describe("per-peer call slots", () => {
  it("take and release keep each peer's count within the limit", () => {
    const peers = [testPeerId(0), testPeerId(1)]
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1 })), { maxLength: 100 }), (steps) => {
        let table = HashMap.empty<(typeof peers)[number], number>()
        const model = [0, 0]
        for (const [take, index] of steps) {
          const peer = peers[index]!
          if (take) {
            const [taken, next] = takeCallSlot(table, peer, 3)
            expect(taken).toBe(model[index]! < 3)
            if (taken) model[index]! += 1
            table = next
          } else if (model[index]! > 0) {
            table = releaseCallSlot(table, peer)
            model[index]! -= 1
          }
          expect(HashMap.get(table, peer).pipe((o) => (o._tag === "Some" ? o.value : 0))).toBe(model[index])
        }
      })
    )
  })
})
