/**
 * The route policies over the simulated network under `TestClock`: what is refused before decoding
 * (receive limits, counts), what refusals cost their sender, work-proportional charges, in-flight
 * limits, and that a P2P route registered through the node's `Network` cannot escape the policy.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Stream } from "effect"
import { FETCH_BLOCKS_REQUEST_BYTES, MAX_OWN_INFO_BYTES, SMALL_REQUEST_BYTES } from "../../../src/layers/server/constants.js"
import { serverStreamMethod, unaryMethod, type Codec } from "../../../src/proto/codec.js"
import { fetchBlocksResponseCodec, P2P_SERVICE, P2pMethods } from "../../../src/proto/P2pMethods.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import type { NetworkService } from "../../../src/services/Network.js"
import { rawCodec } from "../network/fixtures.js"
import { byteStrings, outcome, settled, simWorld, streamOutcome } from "./fixtures.js"

const OPTIONS = { timeout: "30 seconds" } as const
const UNLIMITED = { ratePerSecond: 1_000_000, burst: 1_000_000 }
const FetchBlocksRaw = serverStreamMethod(P2P_SERVICE, "FetchBlocks", rawCodec, fetchBlocksResponseCodec)

const caller = (callers: ReadonlyArray<NetworkService>, i: number): NetworkService => {
  const node = callers[i]
  if (node === undefined) throw new Error(`no caller ${i}`)
  return node
}

/** `codec` counting its decodes: proof that refused bytes never reached the decoder. */
const spied = <A>(codec: Codec<A>) => {
  const calls = { decodes: 0 }
  return { calls, codec: { encode: codec.encode, decode: (bytes: Uint8Array) => (calls.decodes++, codec.decode(bytes)) } satisfies Codec<A> }
}

/** `n` empty refs, encoded by hand: tag 0x0a and a zero length each. */
const emptyRefs = (n: number): Uint8Array => {
  const bytes = new Uint8Array(n * 2)
  for (let i = 0; i < bytes.length; i += 2) bytes[i] = 0x0a
  return bytes
}

describe("route policies over SimNetwork (TestClock)", () => {
  it.scoped("the largest FetchBlocks the transport lets through (32,000 empty refs, 64 KB) is refused unread, costs its sender its weight, and others are served", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld({ ratePerSecond: 1, burst: 10 }, 2)
        const request = spied(protoCodec_FetchBlocksRequest)
        let handled = 0
        yield* server.handleServerStream({ ...P2pMethods.FetchBlocks, request: request.codec }, () => {
          handled++
          return Stream.empty
        })
        yield* server.handleUnary(P2pMethods.GetCommitAvailability, () => Effect.succeed({ highestSyncedCommit: 0, lowestAvailableCommit: 1, epoch: 0 }))
        const [attacker, honest] = [caller(callers, 0), caller(callers, 1)]
        const to = server.localPeerId

        // (A 4 MiB one — 2,097,120 empty refs — never leaves our client or passes the transport: 64 KiB cap.)
        const huge = yield* streamOutcome(attacker.callStream(to, FetchBlocksRaw, emptyRefs(32_000), OPTIONS))
        expect(huge.end.code).toBe("RESOURCE_EXHAUSTED")
        expect(huge.end.detail).toMatch(new RegExp(`^FetchBlocks: request of 64000 bytes, at most ${FETCH_BLOCKS_REQUEST_BYTES}`))
        // Within the receive limit but over the count: refused by the pre-scan, still undecoded.
        const many = yield* streamOutcome(honest.callStream(to, FetchBlocksRaw, emptyRefs(1_001), OPTIONS))
        expect(many.end).toEqual({ code: "RESOURCE_EXHAUSTED", detail: "FetchBlocks.blockRefs: at most 1000 refs per request, got 1001" })
        expect(request.calls.decodes).toBe(0)
        expect(handled).toBe(0)

        // 64 KB cost 13 tokens of a burst of 10: the attacker's bucket is in debt, the honest caller's is not.
        const after = yield* outcome(attacker.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))
        expect(after.code).toBe("RESOURCE_EXHAUSTED")
        expect(after.detail).toMatch(/rate limit/)
        expect((yield* outcome(honest.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))).code).toBe("OK")

        // A valid request goes through the same decoder.
        const valid = yield* streamOutcome(honest.callStream(to, P2pMethods.FetchBlocks, { blockRefs: byteStrings(3, 48) }, OPTIONS))
        expect(valid.end.code).toBe("OK")
        expect(request.calls.decodes).toBe(1)
        expect(handled).toBe(1)
      })
    )
  )

  it.scoped("each route has its receive limit: one byte over is RESOURCE_EXHAUSTED before decoding, at the limit it is decoded", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld(UNLIMITED, 1)
        const c = caller(callers, 0)
        const to = server.localPeerId
        yield* server.handleUnary(P2pMethods.GetKnownPeers, () => Effect.succeed({ ownInfo: new Uint8Array(1), knownPeers: [] }))
        yield* server.handleUnary(P2pMethods.GetCommitAvailability, () => Effect.succeed({ highestSyncedCommit: 0, lowestAvailableCommit: 1, epoch: 0 }))
        yield* server.handleUnary(P2pMethods.GetCommitInfo, () => Effect.succeed({}))
        yield* server.handleUnary(P2pMethods.PushCommit, () => Effect.succeed({}))
        yield* server.handleUnary(P2pMethods.FetchCommits, () => Effect.succeed({ commits: [], certifierRefs: [] }))
        yield* server.handleServerStream(P2pMethods.FetchBlocks, () => Stream.empty)
        // An unknown field 15 of `length` bytes in all: valid protobuf the decoders skip.
        const padding = (length: number) => {
          const body = length - 2 - (length - 2 >= 0x80 ? 1 : 0)
          const header = body >= 0x80 ? [0x7a, (body & 0x7f) | 0x80, body >> 7] : [0x7a, body]
          return Uint8Array.from([...header, ...new Uint8Array(body)])
        }
        const limits: ReadonlyArray<readonly [string, number]> = [
          ["GetKnownPeers", MAX_OWN_INFO_BYTES + 8],
          ["GetCommitAvailability", SMALL_REQUEST_BYTES],
          ["GetCommitInfo", SMALL_REQUEST_BYTES],
          ["PushCommit", SMALL_REQUEST_BYTES],
          ["FetchCommits", SMALL_REQUEST_BYTES]
        ]
        for (const [name, limit] of limits) {
          const raw = unaryMethod(P2P_SERVICE, name, rawCodec, rawCodec)
          expect(padding(limit).length).toBe(limit)
          const over = yield* outcome(c.call(to, raw, padding(limit + 1), OPTIONS))
          expect({ name, ...over }).toEqual({ name, code: "RESOURCE_EXHAUSTED", detail: `${name}: request of ${limit + 1} bytes, at most ${limit} on this route` })
          // At the limit the request is decoded: the Schema rules (not the size) decide.
          const at = yield* outcome(c.call(to, raw, padding(limit), OPTIONS))
          expect({ name, code: at.code === "RESOURCE_EXHAUSTED" ? at.detail : "decoded" }).toEqual({ name, code: "decoded" })
        }
        const fetchOver = yield* streamOutcome(c.callStream(to, FetchBlocksRaw, padding(FETCH_BLOCKS_REQUEST_BYTES + 1), OPTIONS))
        expect(fetchOver.end.code).toBe("RESOURCE_EXHAUSTED")
      })
    )
  )

  it.scoped("refusals are charged, and a request costs in proportion to the refs it asks for", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld({ ratePerSecond: 0.001, burst: 12 }, 2)
        yield* server.handleUnary(P2pMethods.GetCommitAvailability, () => Effect.succeed({ highestSyncedCommit: 0, lowestAvailableCommit: 1, epoch: 0 }))
        yield* server.handleServerStream(P2pMethods.FetchBlocks, () => Stream.empty)
        const [a, b] = [caller(callers, 0), caller(callers, 1)]
        const to = server.localPeerId
        const ask = (node: NetworkService) => Effect.map(outcome(node.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS)), (o) => o.code)
        const garbage = unaryMethod(P2P_SERVICE, "GetCommitAvailability", rawCodec, rawCodec)

        // Caller a: twelve refused requests (garbage, then over the receive limit) empty its bucket.
        for (let i = 0; i < 12; i++) {
          const refused = yield* outcome(a.call(to, garbage, i % 2 === 0 ? Uint8Array.from([0xff, 0xff]) : new Uint8Array(65), OPTIONS))
          expect(refused.code === "INVALID_ARGUMENT" || refused.code === "RESOURCE_EXHAUSTED").toBe(true)
          expect(refused.detail).not.toMatch(/rate limit/)
        }
        expect(yield* ask(a)).toBe("RESOURCE_EXHAUSTED")

        // Caller b: one FetchBlocks of 1,000 refs (50,000 bytes) costs 1 + 10 tokens: one call is left.
        const fetched = yield* streamOutcome(b.callStream(to, P2pMethods.FetchBlocks, { blockRefs: byteStrings(1_000, 48) }, OPTIONS))
        expect(fetched.end.code).toBe("OK")
        expect(yield* ask(b)).toBe("OK")
        expect(yield* ask(b)).toBe("RESOURCE_EXHAUSTED")
      })
    )
  )

  it.scoped("in-flight limits: a caller's fifth concurrent FetchCommits is refused at once, other callers are served", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld({ ...UNLIMITED, handlerTimeoutMs: 60_000 }, 2)
        yield* server.handleUnary(P2pMethods.FetchCommits, (r) => (r.start === 1 ? Effect.never : Effect.succeed({ commits: [], certifierRefs: [] })))
        const [a, b] = [caller(callers, 0), caller(callers, 1)]
        const to = server.localPeerId
        const hung = yield* Effect.forkScoped(
          Effect.all(Array.from({ length: 4 }, () => outcome(a.call(to, P2pMethods.FetchCommits, { start: 1, end: 1 }, { timeout: "50 seconds" }))), {
            concurrency: "unbounded"
          })
        )
        yield* Effect.sleep("1 second")
        const fifth = yield* outcome(a.call(to, P2pMethods.FetchCommits, { start: 2, end: 2 }, OPTIONS))
        expect(fifth.code).toBe("RESOURCE_EXHAUSTED")
        expect(fifth.detail).toMatch(/FetchCommits: more than 4 calls from this peer/)
        expect((yield* outcome(b.call(to, P2pMethods.FetchCommits, { start: 2, end: 2 }, OPTIONS))).code).toBe("OK")
        // Their slots come back when they end (here at the caller's deadline).
        const ended = yield* hung.await
        expect(Exit.isSuccess(ended) && ended.value.every((o) => o.code === "DeadlineExceeded")).toBe(true)
        yield* Effect.sleep("1 second")
        expect((yield* outcome(a.call(to, P2pMethods.FetchCommits, { start: 2, end: 2 }, OPTIONS))).code).toBe("OK")
      })
    )
  )

  it.scoped("a P2P route registered through the node's Network gets the policy; the wrong kind for a path is a defect", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld(UNLIMITED, 1)
        let handled = 0
        // A handler written against a lenient codec of its own still sits behind the route's limits.
        yield* server.handleUnary(unaryMethod(P2P_SERVICE, "PushCommit", rawCodec, rawCodec), () => Effect.sync(() => (handled++, new Uint8Array(0))))
        const refused = yield* outcome(caller(callers, 0).call(server.localPeerId, unaryMethod(P2P_SERVICE, "PushCommit", rawCodec, rawCodec), new Uint8Array(200), OPTIONS))
        expect(refused.code).toBe("RESOURCE_EXHAUSTED")
        expect(handled).toBe(0)
        const wrongKind = yield* Effect.exit(Effect.scoped(server.handleUnary(unaryMethod(P2P_SERVICE, "FetchBlocks", rawCodec, rawCodec), () => Effect.succeed(new Uint8Array(0)))))
        expect(Exit.isFailure(wrongKind) && Exit.causeOption(wrongKind)._tag === "Some").toBe(true)
      })
    )
  )
})

/** The generated codec of FetchBlocksRequest (strict), to spy on. */
const protoCodec_FetchBlocksRequest: Codec<pb.FetchBlocksRequest> = {
  encode: (value) => pb.FetchBlocksRequest.encode(value).finish(),
  decode: (bytes) => {
    try {
      return Either.right(pb.FetchBlocksRequest.decode(bytes))
    } catch (error) {
      return Either.left(String(error))
    }
  }
}
