/**
 * The pre-scan and the bounded response codecs: counts and lengths are judged on the raw bytes, in
 * agreement with the generated decoder, and a message of millions of entries is refused without one
 * of them being materialised.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import { protoCodec } from "../../../src/proto/codec.js"
import { MAX_BLOCK_REFS_PER_REQUEST, MAX_KNOWN_PEERS_PER_RESPONSE } from "../../../src/proto/limits.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import { scanMessage, type FieldLimit } from "../../../src/proto/wireScan.js"

const REFS: FieldLimit = { field: 1, name: "blockRefs", maxCount: MAX_BLOCK_REFS_PER_REQUEST, exactLength: 48 }
const fetchBlocksBytes = (refs: ReadonlyArray<Uint8Array>) => pb.FetchBlocksRequest.encode({ blockRefs: [...refs] }).finish()

/** The attack of issue #11: 2,097,120 empty refs, 4 MiB on the wire. */
const twoMillionEmptyRefs = (): Uint8Array => {
  const bytes = new Uint8Array(2_097_120 * 2)
  for (let i = 0; i < bytes.length; i += 2) bytes[i] = 0x0a // field 1, wire type 2, length 0
  return bytes
}

describe("scanMessage", () => {
  it("refuses two million empty refs on their count, without allocating per ref", () => {
    const bytes = twoMillionEmptyRefs()
    const heapBefore = process.memoryUsage().heapUsed
    const result = scanMessage(bytes, [REFS])
    const grown = process.memoryUsage().heapUsed - heapBefore
    expect(Either.getLeft(result)).toEqual(Either.getLeft(Either.left({ _tag: "TooMany", name: "blockRefs", count: 2_097_120, maxCount: 1_000, unit: "per message" })))
    // Decoding them costs ≈ 240 MiB of heap (an object per ref); the scan a few counters. 16 MiB leaves
    // room for the JIT and the GC's noise, and is still 15 times less than one object per ref.
    expect(grown).toBeLessThan(16 * 1024 * 1024)
  })

  it.prop(
    "agrees with the generated decoder on counts and lengths of any list of refs",
    [fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 1_200 }), fc.integer({ min: 0, max: 1_200 })],
    ([refs, maxCount]) => {
      const bytes = fetchBlocksBytes(refs)
      const result = scanMessage(bytes, [{ ...REFS, maxCount }])
      const decoded = pb.FetchBlocksRequest.decode(bytes).blockRefs
      const firstBad = decoded.findIndex((ref) => ref.length !== 48)
      if (decoded.length > maxCount) expect(result).toMatchObject({ left: { _tag: "TooMany", count: decoded.length } })
      else if (firstBad >= 0) expect(result).toMatchObject({ left: { _tag: "BadLength", index: firstBad, length: decoded[firstBad]?.length } })
      else expect(Either.isRight(result)).toBe(true)
    }
  )

  it.prop("never throws on random bytes, and refuses whatever the strict decoder refuses as malformed", [fc.uint8Array({ maxLength: 200 })], ([bytes]) => {
    const result = scanMessage(bytes, [{ ...REFS, maxCount: 1_000_000, exactLength: undefined as never }])
    const decoded = protoCodec(pb.FetchBlocksRequest).decode(bytes)
    // The scan is stricter than the decoder only about wire types the P2P messages never use (groups).
    if (Either.isRight(result)) expect(Either.isRight(decoded)).toBe(true)
  })

  it("skips the fields it does not limit, of every wire type", () => {
    const bytes = pb.GetCommitAvailabilityResponse.encode({ highestSyncedCommit: 7, lowestAvailableCommit: 1, epoch: 2 ** 40 }).finish()
    expect(Either.isRight(scanMessage(bytes, [REFS]))).toBe(true)
    expect(Either.isLeft(scanMessage(new Uint8Array([0x0a, 0x05, 1, 2]), [REFS]))).toBe(true) // length past the end
  })
})

describe("bounded response codecs (client side)", () => {
  const knownPeers = (n: number) => pb.GetKnownPeersResponse.encode({ ownInfo: new Uint8Array(10), knownPeers: Array.from({ length: n }, () => new Uint8Array(100)) }).finish()

  it("GetKnownPeers: 200 entries decode, 201 are a protocol violation", () => {
    expect(Either.isRight(P2pMethods.GetKnownPeers.response.decode(knownPeers(MAX_KNOWN_PEERS_PER_RESPONSE)))).toBe(true)
    expect(Either.getLeft(P2pMethods.GetKnownPeers.response.decode(knownPeers(MAX_KNOWN_PEERS_PER_RESPONSE + 1)))).toEqual(
      Either.getLeft(Either.left("knownPeers: at most 200 per message, got 201"))
    )
  })

  it("FetchCommits: at most 100 commits and 256 certifier refs of 48 bytes", () => {
    const answer = (commits: number, refs: number, refLength = 48) =>
      pb.FetchCommitsResponse.encode({ commits: Array.from({ length: commits }, () => new Uint8Array(5)), certifierRefs: Array.from({ length: refs }, () => new Uint8Array(refLength)) }).finish()
    expect(Either.isRight(P2pMethods.FetchCommits.response.decode(answer(100, 256)))).toBe(true)
    expect(Either.isLeft(P2pMethods.FetchCommits.response.decode(answer(101, 0)))).toBe(true)
    expect(Either.isLeft(P2pMethods.FetchCommits.response.decode(answer(1, 257)))).toBe(true)
    expect(Either.isLeft(P2pMethods.FetchCommits.response.decode(answer(1, 1, 47)))).toBe(true)
  })

  it("FetchBlocks: a message of two million empty blocks is refused before decoding", () => {
    const bytes = twoMillionEmptyRefs()
    const heapBefore = process.memoryUsage().heapUsed
    expect(Either.getLeft(P2pMethods.FetchBlocks.response.decode(bytes))).toEqual(Either.getLeft(Either.left("blocks: at most 1000 per message, got 2097120")))
    // Decoding it would have made two million Uint8Array views (≈ 240 MiB).
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(16 * 1024 * 1024)
  })
})
