/**
 * The P2P server's limits over real gRPC (mutual TLS) on loopback, on real time: the statuses callers
 * see, a flood from one peer while another is served, a hanging handler cut off, over-limit answers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Stream } from "effect"
import { MAX_OWN_INFO_BYTES } from "../../../src/layers/server/constants.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import type { NetworkService } from "../../../src/services/Network.js"
import { byteStrings, FetchCommitsRaw, grpcWorld, outcome, registerStubs, streamOutcome, totalCalls, type Outcome } from "./fixtures.js"

const OPTIONS = { timeout: "10 seconds" } as const

const caller = (callers: ReadonlyArray<NetworkService>, i: number): NetworkService => {
  const node = callers[i]
  if (node === undefined) throw new Error(`no caller ${i}`)
  return node
}

describe("P2pServerLayer over gRPC on loopback", () => {
  it.scopedLive("bad requests get INVALID_ARGUMENT or RESOURCE_EXHAUSTED and never reach a handler", () =>
    Effect.gen(function* () {
      const { server, callers } = yield* grpcWorld({}, 1)
      const counts = yield* registerStubs(server)
      const c = caller(callers, 0)
      const to = server.localPeerId
      const blocks = (refs: ReadonlyArray<Uint8Array>) =>
        Effect.map(streamOutcome(c.callStream(to, P2pMethods.FetchBlocks, { blockRefs: [...refs] }, OPTIONS)), (r) => r.end)
      const cases: ReadonlyArray<readonly [Effect.Effect<Outcome>, Outcome["code"], RegExp]> = [
        [outcome(c.call(to, P2pMethods.FetchCommits, { start: 0, end: 1 }, OPTIONS)), "INVALID_ARGUMENT", /FetchCommits\.start/],
        [outcome(c.call(to, P2pMethods.FetchCommits, { start: 5, end: 4 }, OPTIONS)), "INVALID_ARGUMENT", /FetchCommits\.end/],
        [blocks(byteStrings(1_001, 48)), "RESOURCE_EXHAUSTED", /FetchBlocks\.blockRefs: at most 1000/],
        [blocks(byteStrings(2, 20)), "INVALID_ARGUMENT", /FetchBlocks\.blockRefs\[0\]/],
        [outcome(c.call(to, P2pMethods.PushCommit, { commitRef: new Uint8Array(35) }, OPTIONS)), "INVALID_ARGUMENT", /PushCommit\.commitRef/],
        [outcome(c.call(to, P2pMethods.GetKnownPeers, { ownInfo: new Uint8Array(MAX_OWN_INFO_BYTES + 1) }, OPTIONS)), "INVALID_ARGUMENT", /GetKnownPeers\.ownInfo/],
        [outcome(c.call(to, P2pMethods.GetCommitInfo, { query: undefined }, OPTIONS)), "INVALID_ARGUMENT", /GetCommitInfo\.query/],
        [outcome(c.call(to, FetchCommitsRaw, new Uint8Array([0x08, 0x80]), OPTIONS)), "INVALID_ARGUMENT", /invalid protobuf/]
      ]
      for (const [call, code, detail] of cases) {
        const result = yield* call
        expect(result.code).toBe(code)
        expect(result.detail).toMatch(detail)
      }
      expect(yield* totalCalls(counts)).toBe(0)
      expect((yield* outcome(c.call(to, P2pMethods.FetchCommits, { start: 1, end: 1 }, OPTIONS))).code).toBe("OK")
      expect((yield* blocks(byteStrings(1_000, 48))).code).toBe("OK")
    })
  )

  it.scopedLive("a flood from one peer gets RESOURCE_EXHAUSTED beyond its rate while a well-behaved peer's calls all succeed", () =>
    Effect.gen(function* () {
      const rate = { ratePerSecond: 10, burst: 10 }
      const { server, callers } = yield* grpcWorld(rate, 2)
      yield* registerStubs(server)
      const [flooder, polite] = [caller(callers, 0), caller(callers, 1)]
      const ask = (node: NetworkService) => outcome(node.call(server.localPeerId, P2pMethods.GetCommitAvailability, {}, OPTIONS))
      const start = yield* Clock.currentTimeMillis
      const floodMs = 1_500
      const during = (node: NetworkService, pauseMs: number) =>
        Effect.gen(function* () {
          const codes: Array<Outcome["code"]> = []
          while ((yield* Clock.currentTimeMillis) < start + floodMs) {
            codes.push((yield* ask(node)).code)
            if (pauseMs > 0) yield* Effect.sleep(pauseMs)
          }
          return codes
        })
      const [flood, served] = yield* Effect.all(
        [Effect.map(Effect.all(Array.from({ length: 8 }, () => during(flooder, 0)), { concurrency: "unbounded" }), (all) => all.flat()), during(polite, 150)],
        { concurrency: "unbounded" }
      )
      const elapsedS = ((yield* Clock.currentTimeMillis) - start) / 1000
      const accepted = flood.filter((code) => code === "OK").length
      const refused = flood.filter((code) => code === "RESOURCE_EXHAUSTED").length
      expect(refused).toBeGreaterThan(0)
      expect(accepted + refused).toBe(flood.length)
      expect(accepted).toBeGreaterThanOrEqual(rate.burst)
      expect(accepted).toBeLessThanOrEqual(rate.burst + rate.ratePerSecond * elapsedS + 1)
      // The polite peer calls at most ~6 times a second, under its rate, and is served every time during the flood.
      expect(served.length).toBeGreaterThanOrEqual(5)
      expect(served.every((code) => code === "OK")).toBe(true)
    })
  )

  it.scopedLive("a hanging handler is cut off with UNAVAILABLE after the server's timeout, long before the caller's deadline", () =>
    Effect.gen(function* () {
      const { server, callers } = yield* grpcWorld({ handlerTimeoutMs: 300 }, 1)
      const c = caller(callers, 0)
      yield* server.handleUnary(P2pMethods.PushCommit, () => Effect.never)
      yield* server.handleServerStream(P2pMethods.FetchBlocks, () => Stream.concat(Stream.make({ blocks: byteStrings(1, 10) }), Stream.never))
      const t0 = yield* Clock.currentTimeMillis
      const hung = yield* outcome(c.call(server.localPeerId, P2pMethods.PushCommit, { commitRef: new Uint8Array(36) }, OPTIONS))
      const t1 = yield* Clock.currentTimeMillis
      expect(hung.code).toBe("UNAVAILABLE")
      expect(t1 - t0).toBeGreaterThanOrEqual(290)
      expect(t1 - t0).toBeLessThan(5_000)
      const stalled = yield* streamOutcome(c.callStream(server.localPeerId, P2pMethods.FetchBlocks, { blockRefs: byteStrings(3, 48) }, OPTIONS))
      expect(stalled.messages.length).toBe(1)
      expect(stalled.end.code).toBe("UNAVAILABLE")
    })
  )

  it.scopedLive("over-limit responses never leave the server", () =>
    Effect.gen(function* () {
      const { server, callers } = yield* grpcWorld({}, 1)
      const c = caller(callers, 0)
      const peers = Array.from({ length: 300 }, (_, i) => new Uint8Array([i & 0xff, i >> 8, 1]))
      yield* server.handleUnary(P2pMethods.GetKnownPeers, () => Effect.succeed({ ownInfo: new Uint8Array(1), knownPeers: peers }))
      yield* server.handleUnary(P2pMethods.FetchCommits, () => Effect.succeed({ commits: byteStrings(101, 4), certifierRefs: [] }))
      yield* server.handleServerStream(P2pMethods.FetchBlocks, () => Stream.make({ blocks: byteStrings(2, 2 * 1024 * 1024) }))
      const known = yield* Effect.orDie(c.call(server.localPeerId, P2pMethods.GetKnownPeers, { ownInfo: new Uint8Array(0) }, OPTIONS))
      expect(known.knownPeers).toEqual(peers.slice(0, 200))
      expect((yield* outcome(c.call(server.localPeerId, P2pMethods.FetchCommits, { start: 1, end: 200 }, OPTIONS))).code).toBe("INTERNAL")
      const big = yield* streamOutcome(c.callStream(server.localPeerId, P2pMethods.FetchBlocks, { blockRefs: byteStrings(2, 48) }, OPTIONS))
      expect(big.messages).toEqual([])
      expect(big.end.code).toBe("INTERNAL")
    })
  )
})
