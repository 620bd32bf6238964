/**
 * The P2P server's limits over the simulated network under `TestClock`: statuses of bad requests,
 * the per-peer rate limit during a flood, deadlines on hanging handlers, response limits, and routes
 * other than the six left alone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Schedule, Stream } from "effect"
import { MAX_OWN_INFO_BYTES, U32_MAX } from "../../../src/layers/server/constants.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import type { NetworkService } from "../../../src/services/Network.js"
import { Echo } from "../network/fixtures.js"
import {
  byteStrings,
  capturingLogs,
  FetchCommitsRaw,
  outcome,
  registerStubs,
  settled,
  simWorld,
  streamOutcome,
  totalCalls,
  type Outcome
} from "./fixtures.js"

/** No rate limit in the way of tests about something else. */
const UNLIMITED = { ratePerSecond: 1_000_000, burst: 1_000_000 }
const OPTIONS = { timeout: "30 seconds" } as const

const caller = (callers: ReadonlyArray<NetworkService>, i: number): NetworkService => {
  const node = callers[i]
  if (node === undefined) throw new Error(`no caller ${i}`)
  return node
}

/** The ending of a FetchBlocks call. */
const fetchBlocks = (from: NetworkService, to: NetworkService, blockRefs: ReadonlyArray<Uint8Array>) =>
  streamOutcome(from.callStream(to.localPeerId, P2pMethods.FetchBlocks, { blockRefs: [...blockRefs] }, OPTIONS))

describe("P2pServerLayer over SimNetwork (TestClock)", () => {
  it.scoped("each kind of bad request gets its status, naming the field, and never reaches the handler", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld(UNLIMITED, 1)
        const counts = yield* registerStubs(server)
        const c = caller(callers, 0)
        const to = server.localPeerId
        const blocksEnd = (refs: ReadonlyArray<Uint8Array>) => Effect.map(fetchBlocks(c, server, refs), (r) => r.end)
        const bad: ReadonlyArray<readonly [string, Effect.Effect<Outcome>, Outcome["code"], RegExp]> = [
          ["FetchCommits start 0", outcome(c.call(to, P2pMethods.FetchCommits, { start: 0, end: 5 }, OPTIONS)), "INVALID_ARGUMENT", /^FetchCommits\.start: /],
          ["FetchCommits end < start", outcome(c.call(to, P2pMethods.FetchCommits, { start: 10, end: 9 }, OPTIONS)), "INVALID_ARGUMENT", /^FetchCommits\.end: .*start \(10\), got 9/],
          ["FetchBlocks 1,001 refs", blocksEnd(byteStrings(1_001, 48)), "RESOURCE_EXHAUSTED", /^FetchBlocks\.blockRefs: at most 1000 refs.*got 1001/],
          ["FetchBlocks 1,001 short refs: count first", blocksEnd(byteStrings(1_001, 3)), "RESOURCE_EXHAUSTED", /blockRefs: at most 1000/],
          ["FetchBlocks a 47-byte ref", blocksEnd([...byteStrings(1, 48), ...byteStrings(1, 47)]), "INVALID_ARGUMENT", /^FetchBlocks\.blockRefs\[1\]: must be exactly 48 bytes \(BCS BlockRef\), got 47/],
          ["FetchBlocks a 52-byte ref", blocksEnd(byteStrings(1, 52)), "INVALID_ARGUMENT", /blockRefs\[0\]: .*got 52/],
          ["PushCommit 35 bytes", outcome(c.call(to, P2pMethods.PushCommit, { commitRef: new Uint8Array(35) }, OPTIONS)), "INVALID_ARGUMENT", /^PushCommit\.commitRef: must be exactly 36 bytes/],
          ["PushCommit empty", outcome(c.call(to, P2pMethods.PushCommit, { commitRef: new Uint8Array(0) }, OPTIONS)), "INVALID_ARGUMENT", /commitRef/],
          ["PushCommit 37 bytes", outcome(c.call(to, P2pMethods.PushCommit, { commitRef: new Uint8Array(37) }, OPTIONS)), "INVALID_ARGUMENT", /commitRef/],
          [
            "GetKnownPeers oversized ownInfo",
            outcome(c.call(to, P2pMethods.GetKnownPeers, { ownInfo: new Uint8Array(MAX_OWN_INFO_BYTES + 1) }, OPTIONS)),
            "INVALID_ARGUMENT",
            /^GetKnownPeers\.ownInfo: must be at most 1142 bytes/
          ],
          ["GetCommitInfo without query", outcome(c.call(to, P2pMethods.GetCommitInfo, { query: undefined }, OPTIONS)), "INVALID_ARGUMENT", /^GetCommitInfo\.query: /],
          ["garbage protobuf", outcome(c.call(to, FetchCommitsRaw, new Uint8Array([0xff, 0xff, 0xff]), OPTIONS)), "INVALID_ARGUMENT", /invalid protobuf/]
        ]
        for (const [name, call, code, detail] of bad) {
          const result = yield* call
          expect({ name, code: result.code }).toEqual({ name, code })
          expect(result.detail).toMatch(detail)
        }
        expect(yield* totalCalls(counts)).toBe(0)

        // The boundary values just inside every limit go through.
        const good: ReadonlyArray<Effect.Effect<Outcome>> = [
          outcome(c.call(to, P2pMethods.FetchCommits, { start: 1, end: 1 }, OPTIONS)),
          outcome(c.call(to, P2pMethods.FetchCommits, { start: 1, end: U32_MAX }, OPTIONS)),
          outcome(c.call(to, P2pMethods.FetchCommits, { start: U32_MAX, end: U32_MAX }, OPTIONS)),
          blocksEnd(byteStrings(1_000, 48)),
          blocksEnd([]),
          outcome(c.call(to, P2pMethods.PushCommit, { commitRef: new Uint8Array(36) }, OPTIONS)),
          outcome(c.call(to, P2pMethods.GetKnownPeers, { ownInfo: new Uint8Array(MAX_OWN_INFO_BYTES) }, OPTIONS)),
          outcome(c.call(to, P2pMethods.GetCommitInfo, { query: { $case: "latest", value: {} } }, OPTIONS)),
          outcome(c.call(to, P2pMethods.GetCommitInfo, { query: { $case: "index", value: 0 } }, OPTIONS)),
          outcome(c.call(to, P2pMethods.GetCommitInfo, { query: { $case: "index", value: U32_MAX } }, OPTIONS)),
          outcome(c.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))
        ]
        for (const call of good) expect(yield* call).toEqual({ code: "OK", detail: "" })
        expect(yield* totalCalls(counts)).toBe(good.length)
      })
    )
  )

  it.scoped("a flood from one peer gets RESOURCE_EXHAUSTED beyond its rate; a well-behaved peer is served all along", () =>
    settled(
      Effect.gen(function* () {
        const rate = { ratePerSecond: 5, burst: 5 }
        // 50 ms links: a round trip is 100 ms, so the flood is ~80 calls (simulated calls cost real time).
        const { server, callers } = yield* simWorld(rate, 2, 50)
        yield* registerStubs(server)
        const [flooder, polite] = [caller(callers, 0), caller(callers, 1)]
        const ask = (node: NetworkService) => outcome(node.call(server.localPeerId, P2pMethods.GetCommitAvailability, {}, OPTIONS))
        const start = yield* Clock.currentTimeMillis
        const floodMs = 2_000
        const during = (body: Effect.Effect<Outcome>, pauseMs: number) =>
          Effect.gen(function* () {
            const codes: Array<Outcome["code"]> = []
            while ((yield* Clock.currentTimeMillis) < start + floodMs) {
              codes.push((yield* body).code)
              if (pauseMs > 0) yield* Effect.sleep(pauseMs)
            }
            return codes
          })
        // 4 callers in a loop (below the concurrency limit of 32, so only the rate limit refuses).
        const [flood, served] = yield* Effect.all(
          [Effect.map(Effect.all(Array.from({ length: 4 }, () => during(ask(flooder), 0)), { concurrency: "unbounded" }), (all) => all.flat()), during(ask(polite), 300)],
          { concurrency: "unbounded" }
        )
        const accepted = flood.filter((code) => code === "OK").length
        expect(flood.length).toBeGreaterThan(70)
        expect(flood.filter((code) => code !== "OK").every((code) => code === "RESOURCE_EXHAUSTED")).toBe(true)
        // The burst, then the rate: never more than burst + rate × time.
        expect(accepted).toBeGreaterThanOrEqual(rate.burst)
        expect(accepted).toBeLessThanOrEqual(rate.burst + (rate.ratePerSecond * floodMs) / 1000 + 1)
        expect(served.length).toBeGreaterThanOrEqual(4) // one call per 400 ms: 2.5/s, half the rate
        expect(served.every((code) => code === "OK")).toBe(true)

        // The bucket refills: after a pause the flooder is served again.
        yield* Effect.sleep("1 second")
        expect((yield* ask(flooder)).code).toBe("OK")
      })
    )
  )

  it.scoped("one bucket per peer across the six routes; invalid requests cost a token too; other routes pass through unlimited", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld({ ratePerSecond: 0.001, burst: 3 }, 2)
        yield* registerStubs(server)
        yield* server.handleUnary(Echo, (request, context) => Effect.succeed({ caller: context.peerId, text: request.text }))
        const [a, b] = [caller(callers, 0), caller(callers, 1)]
        const to = server.localPeerId
        expect((yield* outcome(a.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))).code).toBe("OK")
        expect((yield* outcome(a.call(to, P2pMethods.PushCommit, { commitRef: new Uint8Array(1) }, OPTIONS))).code).toBe("INVALID_ARGUMENT")
        expect((yield* Effect.map(fetchBlocks(a, server, byteStrings(1, 48)), (r) => r.end.code))).toBe("OK")
        const refused = yield* outcome(a.call(to, P2pMethods.FetchCommits, { start: 1, end: 1 }, OPTIONS))
        expect(refused.code).toBe("RESOURCE_EXHAUSTED")
        expect(refused.detail).toMatch(/rate limit/)
        expect((yield* outcome(b.call(to, P2pMethods.FetchCommits, { start: 1, end: 1 }, OPTIONS))).code).toBe("OK")
        const echoes = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => outcome(a.call(to, Echo, { text: `${i}` }, OPTIONS)))
        expect(echoes.every((o) => o.code === "OK")).toBe(true)
      })
    )
  )

  it.scoped("a hanging unary handler is cut off with UNAVAILABLE after the handler timeout, and the server keeps serving", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld({ ...UNLIMITED, handlerTimeoutMs: 2_000 }, 1)
        const c = caller(callers, 0)
        yield* server.handleUnary(P2pMethods.FetchCommits, (request) => (request.start === 1 ? Effect.never : Effect.succeed({ commits: [], certifierRefs: [] })))
        const t0 = yield* Clock.currentTimeMillis
        const hung = yield* outcome(c.call(server.localPeerId, P2pMethods.FetchCommits, { start: 1, end: 1 }, OPTIONS))
        const elapsed = (yield* Clock.currentTimeMillis) - t0
        expect(hung.code).toBe("UNAVAILABLE")
        expect(hung.detail).toMatch(/took longer than 2000 ms/)
        expect(elapsed).toBeGreaterThanOrEqual(2_000)
        expect(elapsed).toBeLessThan(2_100) // two link latencies, not the caller's 30 s deadline
        expect((yield* outcome(c.call(server.localPeerId, P2pMethods.FetchCommits, { start: 2, end: 2 }, OPTIONS))).code).toBe("OK")
      })
    )
  )

  it.scoped("a stream that stalls is cut off after the handler timeout; one that trickles forever after the stream timeout", () =>
    settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld({ ...UNLIMITED, handlerTimeoutMs: 2_000, streamTimeoutMs: 5_000 }, 1)
        const c = caller(callers, 0)
        const one = { blocks: byteStrings(1, 10) }
        yield* server.handleServerStream(P2pMethods.FetchBlocks, (request) =>
          request.blockRefs[0]?.[0] === 1
            ? Stream.concat(Stream.make(one), Stream.never) // stalls after one message
            : Stream.map(Stream.fromSchedule(Schedule.spaced("1 second")), () => one) // one message a second, forever
        )
        const t0 = yield* Clock.currentTimeMillis
        const stalled = yield* fetchBlocks(c, server, byteStrings(10, 48, 1))
        const t1 = yield* Clock.currentTimeMillis
        expect(stalled.messages.length).toBe(1)
        expect(stalled.end.code).toBe("UNAVAILABLE")
        expect(stalled.end.detail).toMatch(/next message took longer than 2000 ms/)
        expect(t1 - t0).toBeLessThan(2_100)

        const trickle = yield* fetchBlocks(c, server, byteStrings(10, 48, 2))
        const t2 = yield* Clock.currentTimeMillis
        expect(trickle.end.code).toBe("UNAVAILABLE")
        expect(trickle.end.detail).toMatch(/stream took longer than 5000 ms/)
        expect(trickle.messages.length).toBeGreaterThanOrEqual(3)
        expect(trickle.messages.length).toBeLessThanOrEqual(5)
        expect(t2 - t1).toBeLessThan(5_100)
      })
    )
  )

  it.scoped("over-limit responses never leave the server: peers cut to 200, too many commits or blocks refused, logged", () => {
    const logs: Array<string> = []
    return settled(
      Effect.gen(function* () {
        const { server, callers } = yield* simWorld(UNLIMITED, 1)
        const c = caller(callers, 0)
        const to = server.localPeerId
        const peers = Array.from({ length: 500 }, (_, i) => new Uint8Array([i & 0xff, i >> 8]))
        yield* server.handleUnary(P2pMethods.GetKnownPeers, () => Effect.succeed({ ownInfo: new Uint8Array(3), knownPeers: peers }))
        yield* server.handleUnary(P2pMethods.FetchCommits, (r) => Effect.succeed({ commits: byteStrings(r.end - r.start + 1, 4), certifierRefs: [] }))
        yield* server.handleServerStream(P2pMethods.FetchBlocks, (request) => {
          const n = request.blockRefs.length
          // n = 2: a first message within the budget, then one block more than was asked for.
          if (n === 2) return Stream.make({ blocks: byteStrings(2, 100) }, { blocks: byteStrings(1, 100) })
          // n = 3: one block whose message is exactly 4 MiB, then one a byte over.
          if (n === 3) return Stream.make({ blocks: byteStrings(1, 4 * 1024 * 1024 - 5) }, { blocks: byteStrings(1, 4 * 1024 * 1024 - 4) })
          return Stream.empty
        })

        const known = yield* c.call(to, P2pMethods.GetKnownPeers, { ownInfo: new Uint8Array(0) }, OPTIONS).pipe(Effect.orDie)
        expect(known.knownPeers.length).toBe(200)
        expect(known.knownPeers).toEqual(peers.slice(0, 200))

        expect((yield* c.call(to, P2pMethods.FetchCommits, { start: 1, end: 100 }, OPTIONS).pipe(Effect.orDie)).commits.length).toBe(100)
        expect((yield* outcome(c.call(to, P2pMethods.FetchCommits, { start: 1, end: 101 }, OPTIONS))).code).toBe("INTERNAL")

        const extra = yield* fetchBlocks(c, server, byteStrings(2, 48))
        expect(extra.messages.map((m) => m.blocks.length)).toEqual([2])
        expect(extra.end.code).toBe("INTERNAL")

        const big = yield* fetchBlocks(c, server, byteStrings(3, 48))
        expect(big.messages.map((m) => m.blocks[0]?.length)).toEqual([4 * 1024 * 1024 - 5])
        expect(big.end.code).toBe("INTERNAL")

        const errors = logs.filter((line) => line.startsWith("ERROR"))
        expect(errors.some((line) => /GetKnownPeers answer of 500 peers cut to 200/.test(line))).toBe(true)
        expect(errors.some((line) => /101 commits, at most 100/.test(line))).toBe(true)
        expect(errors.some((line) => /more blocks than were asked for/.test(line))).toBe(true)
        expect(errors.some((line) => /message of 4194305 bytes, at most 4194304/.test(line))).toBe(true)
      })
    ).pipe(Effect.provide(capturingLogs(logs)))
  })
})
