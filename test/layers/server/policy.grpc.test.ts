/**
 * The route policies over real gRPC (mutual TLS) on loopback: requests within the transport's size
 * limit but over a route's (receive limit, count) are refused before they are decoded, and cost their
 * sender rate tokens in proportion to their size.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Stream } from "effect"
import { FETCH_BLOCKS_REQUEST_BYTES } from "../../../src/layers/server/constants.js"
import { serverStreamMethod, type Codec } from "../../../src/proto/codec.js"
import { fetchBlocksResponseCodec, P2P_SERVICE, P2pMethods } from "../../../src/proto/P2pMethods.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import { rawCodec } from "../network/fixtures.js"
import { byteStrings, grpcWorld, outcome, streamOutcome } from "./fixtures.js"

const OPTIONS = { timeout: "10 seconds" } as const
const FetchBlocksRaw = serverStreamMethod(P2P_SERVICE, "FetchBlocks", rawCodec, fetchBlocksResponseCodec)

describe("route policies over gRPC on loopback", () => {
  it.scopedLive("an over-limit FetchBlocks (size or count) is refused undecoded and charged by its weight", () =>
    Effect.gen(function* () {
      // 60 tokens: a 60,000-byte request costs 13, so four of them and the bucket is nearly empty.
      const { server, callers } = yield* grpcWorld({ ratePerSecond: 0.001, burst: 60 }, 2)
      const decodes = { count: 0 }
      const request: Codec<pb.FetchBlocksRequest> = {
        encode: (value) => pb.FetchBlocksRequest.encode(value).finish(),
        decode: (bytes) => {
          decodes.count++
          return Either.right(pb.FetchBlocksRequest.decode(bytes))
        }
      }
      yield* server.handleServerStream({ ...P2pMethods.FetchBlocks, request }, () => Stream.empty)
      yield* server.handleUnary(P2pMethods.GetCommitAvailability, () => Effect.succeed({ highestSyncedCommit: 0, lowestAvailableCommit: 1, epoch: 0 }))
      const [attacker, honest] = callers as [typeof server, typeof server]
      const to = server.localPeerId

      // 1,200 refs of 48 bytes: 60,000 bytes, under a 64 KiB transport cap, over the route's 50,064.
      const oversize = pb.FetchBlocksRequest.encode({ blockRefs: byteStrings(1_200, 48) }).finish()
      for (let i = 0; i < 4; i++) {
        const refused = yield* streamOutcome(attacker.callStream(to, FetchBlocksRaw, oversize, OPTIONS))
        expect(refused.end.code).toBe("RESOURCE_EXHAUSTED")
        expect(refused.end.detail).toMatch(new RegExp(`request of 60000 bytes, at most ${FETCH_BLOCKS_REQUEST_BYTES}`))
      }
      // 1,001 empty refs: 2,002 bytes, refused on the count.
      const many = yield* streamOutcome(attacker.callStream(to, FetchBlocksRaw, pb.FetchBlocksRequest.encode({ blockRefs: byteStrings(1_001, 0) }).finish(), OPTIONS))
      expect(many.end.code).toBe("RESOURCE_EXHAUSTED")
      expect(many.end.detail).toMatch(/blockRefs: at most 1000 refs per request, got 1001/)
      expect(decodes.count).toBe(0)
      // 4 × 13 + 1 = 53 tokens of 60 spent: seven calls left, then the rate limit.
      const codes: Array<string> = []
      for (let i = 0; i < 8; i++) codes.push((yield* outcome(attacker.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))).code)
      expect(codes).toEqual(["OK", "OK", "OK", "OK", "OK", "OK", "OK", "RESOURCE_EXHAUSTED"])
      // The honest caller's bucket is its own; its valid request is decoded once and served.
      const valid = yield* streamOutcome(honest.callStream(to, P2pMethods.FetchBlocks, { blockRefs: byteStrings(2, 48) }, OPTIONS))
      expect(valid.end.code).toBe("OK")
      expect(decodes.count).toBe(1)
    })
  )
})
