/**
 * The contract every `Network` layer must meet, as one suite run against each layer (gRPC with TLS,
 * gRPC plaintext, simulation). A harness builds fresh nodes per test and says how time passes (real
 * time for gRPC, `TestClock` for the simulation), so the same test bodies run on both.
 */
import { describe, expect } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Option, Ref, Stream, type Scope } from "effect"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { HandlerStatus, type NetworkService, type PeerEvent } from "../../../src/services/Network.js"
import { MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES } from "../../../src/layers/network/limits.js"
import { Big, Count, Echo, Fail, Garbage, GarbageRaw, Sink, Slow, Strict, StrictRaw, Unknown } from "./fixtures.js"

/** Per-peer concurrent call limit every harness gives its nodes. */
export const CONTRACT_CALL_LIMIT = 4

/** What a contract test body gets. */
export interface ContractContext {
  readonly nodes: ReadonlyArray<NetworkService>
  /** Runs an effect to its end, moving simulated time as needed (real time just runs it). */
  readonly settle: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** Lets `duration` pass (real or simulated). */
  readonly wait: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** Shuts node `index` down, as a crash or a stop would (closes its layer's scope). */
  readonly shutdown: (index: number) => Effect.Effect<void>
}

/** How a layer's nodes are made and how time passes for them. */
export interface NetworkHarness {
  /** Registers a test that gets `count` fresh nodes. */
  readonly test: (name: string, count: number, body: (context: ContractContext) => Effect.Effect<void, unknown, Scope.Scope>) => void
  /** Whether dialling checks the dialled node's key at connect time (gRPC plaintext cannot). */
  readonly pinsServerKey: boolean
}

const TIMEOUT = { timeout: Duration.seconds(5) }

/** Serves the test methods on `node`. */
const serveAll = (node: NetworkService) =>
  Effect.gen(function* () {
    yield* node.handleUnary(Echo, (request, context) => Effect.succeed({ caller: context.peerId, text: request.text }))
    yield* node.handleUnary(Slow, (request) => Effect.as(Effect.sleep(Duration.millis(request.ms)), { done: true }))
    yield* node.handleUnary(Fail, (request) =>
      request.code === "DIE"
        ? Effect.die(new Error("handler bug"))
        : request.code === "THROW"
          ? Effect.sync(() => {
              throw new Error("thrown in handler")
            })
          : Effect.fail(new HandlerStatus({ code: request.code as HandlerStatus["code"], detail: `asked for ${request.code}` }))
    )
    yield* node.handleServerStream(Count, (request) =>
      request.count < 0
        ? Stream.fail(HandlerStatus.invalidArgument("negative count"))
        : Stream.range(1, request.count).pipe(
        Stream.mapEffect((i) =>
          Effect.as(request.delayMs > 0 ? Effect.sleep(Duration.millis(request.delayMs)) : Effect.void, {
            blocks: [new Uint8Array(Math.max(1, request.size)).fill(i % 256)]
          })
        )
      )
    )
    yield* node.handleUnary(Strict, (request) => Effect.succeed({ commits: [new Uint8Array([request.start, request.end])], certifierRefs: [] }))
    yield* node.handleUnary(GarbageRaw, () => Effect.succeed(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])))
    yield* node.handleUnary(Big, (request) => Effect.succeed(new Uint8Array(request.bytes)))
    yield* node.handleUnary(Sink, (request) => Effect.succeed({ received: request.length }))
  })

const connect = (from: NetworkService, to: NetworkService) => from.dial(to.localPeerId, to.listenAddress)

/** Waits (real or simulated time) until `check` holds; fails after 1,000 polls rather than hanging. */
const eventually = (wait: ContractContext["wait"], check: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    for (let poll = 0; poll < 1_000; poll++) {
      if (yield* check) return
      yield* wait(Duration.millis(10))
    }
    return yield* Effect.dieMessage("condition not reached")
  })

const failureTag = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(effect), Either.match({ onLeft: (e) => e._tag, onRight: () => "Success" }))

/** Registers the contract suite for one layer. */
export const networkContract = (name: string, harness: NetworkHarness): void => {
  const { test } = harness
  describe(`Network contract: ${name}`, () => {
    test("a unary call round-trips and the server sees the caller's PeerId", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        const answer = yield* settle(a!.call(b!.localPeerId, Echo, { text: "hello" }, TIMEOUT))
        expect(answer).toEqual({ caller: a!.localPeerId, text: "hello" })
      })
    )

    test("a server stream delivers many messages in order", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        const messages = yield* settle(Stream.runCollect(a!.callStream(b!.localPeerId, Count, { count: 300, size: 1_000, delayMs: 0 }, TIMEOUT)))
        expect(Chunk.size(messages)).toBe(300)
        expect(Chunk.toReadonlyArray(messages).map((m) => m.blocks[0]![0])).toEqual(Array.from({ length: 300 }, (_, i) => (i + 1) % 256))
      })
    )

    test("a stream's consumer interrupted while the server is slow stops at once (a stopping node is not held until the deadline)", 2, ({ nodes: [a, b], settle, wait }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        const slow = a!.callStream(b!.localPeerId, Count, { count: 3, size: 10, delayMs: 20_000 }, { timeout: Duration.seconds(60) })
        const consumer = yield* Effect.fork(Stream.runDrain(slow))
        yield* wait(Duration.millis(300))
        const stopped = yield* settle(Effect.timeoutOption(Fiber.interrupt(consumer), Duration.seconds(3)))
        expect(Option.isSome(stopped)).toBe(true)
        expect((yield* settle(a!.call(b!.localPeerId, Echo, { text: "after" }, TIMEOUT))).text).toBe("after")
      })
    )

    test("a call past its deadline fails with DeadlineExceeded", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        const error = yield* settle(Effect.flip(a!.call(b!.localPeerId, Slow, { ms: 10_000 }, { timeout: Duration.millis(200) })))
        expect(error._tag).toBe("DeadlineExceeded")
        const streamError = yield* settle(
          Effect.flip(Stream.runDrain(a!.callStream(b!.localPeerId, Count, { count: 100, size: 10, delayMs: 100 }, { timeout: Duration.millis(300) })))
        )
        expect(streamError._tag).toBe("DeadlineExceeded")
        // The node still serves after abandoned calls.
        expect((yield* settle(a!.call(b!.localPeerId, Echo, { text: "still" }, TIMEOUT))).text).toBe("still")
      })
    )

    test("handler statuses reach the caller; defects become INTERNAL; unknown routes UNIMPLEMENTED", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        for (const code of ["NOT_FOUND", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "FAILED_PRECONDITION"] as const) {
          const error = yield* settle(Effect.flip(a!.call(b!.localPeerId, Fail, { code }, TIMEOUT)))
          expect(error).toMatchObject({ _tag: "RpcRejected", code, detail: `asked for ${code}` })
        }
        for (const code of ["DIE", "THROW"]) {
          const error = yield* settle(Effect.flip(a!.call(b!.localPeerId, Fail, { code }, TIMEOUT)))
          expect(error).toMatchObject({ _tag: "RpcRejected", code: "INTERNAL" })
          expect(error.message).not.toContain("handler bug")
        }
        const unknown = yield* settle(Effect.flip(a!.call(b!.localPeerId, Unknown, { n: 1 }, TIMEOUT)))
        expect(unknown).toMatchObject({ _tag: "RpcRejected", code: "UNIMPLEMENTED" })
        const streamFailure = yield* settle(Effect.flip(Stream.runDrain(a!.callStream(b!.localPeerId, Count, { count: -5, size: 1, delayMs: 0 }, TIMEOUT))))
        expect(streamFailure).toMatchObject({ _tag: "RpcRejected", code: "INVALID_ARGUMENT", detail: "negative count" })
        expect((yield* settle(a!.call(b!.localPeerId, Echo, { text: "alive" }, TIMEOUT))).text).toBe("alive")
      })
    )

    test("garbage and truncated requests get INVALID_ARGUMENT; garbage answers are protocol violations", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        const valid = Strict.request.encode({ start: 300, end: 70_000 })
        const truncated = valid.subarray(0, valid.length - 1)
        for (const bytes of [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), truncated, new Uint8Array([0x0f, 0x01]), new Uint8Array([0x00, 0x08])]) {
          const error = yield* settle(Effect.flip(a!.call(b!.localPeerId, StrictRaw, bytes, TIMEOUT)))
          expect(error).toMatchObject({ _tag: "RpcRejected", code: "INVALID_ARGUMENT" })
        }
        expect(yield* settle(a!.call(b!.localPeerId, StrictRaw, valid, TIMEOUT))).toEqual({ commits: [new Uint8Array([300 & 0xff, 70_000 & 0xff])], certifierRefs: [] })
        const violation = yield* settle(Effect.flip(a!.call(b!.localPeerId, Garbage, { n: 1 }, TIMEOUT)))
        expect(violation).toMatchObject({ _tag: "ProtocolViolation", reason: "UndecodableResponse" })
      })
    )

    test("requests above 64 KiB and responses above 4 MiB are refused", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* settle(connect(a!, b!))
        const tooBig = yield* settle(Effect.flip(a!.call(b!.localPeerId, Sink, new Uint8Array(MAX_REQUEST_BYTES + 1), TIMEOUT)))
        expect(tooBig).toMatchObject({ _tag: "RequestTooLarge", bytes: MAX_REQUEST_BYTES + 1, limit: MAX_REQUEST_BYTES })
        expect(yield* settle(a!.call(b!.localPeerId, Sink, new Uint8Array(MAX_REQUEST_BYTES - 100), TIMEOUT))).toEqual({ received: MAX_REQUEST_BYTES - 100 })
        const bigAnswer = yield* settle(Effect.flip(a!.call(b!.localPeerId, Big, { bytes: MAX_MESSAGE_BYTES + 1 }, TIMEOUT)))
        expect(bigAnswer).toMatchObject({ _tag: "RpcRejected", code: "INTERNAL" })
        expect((yield* settle(a!.call(b!.localPeerId, Big, { bytes: MAX_MESSAGE_BYTES }, TIMEOUT))).length).toBe(MAX_MESSAGE_BYTES)
      })
    )

    test("dial and hang-up make peer events and change the connected set", 3, ({ nodes: [a, b, c], settle }) =>
      Effect.gen(function* () {
        const events = yield* a!.peerEvents
        const collected = yield* Effect.fork(Stream.runCollect(Stream.take(events, 4)))
        expect(yield* a!.connectedPeers).toEqual([])
        yield* settle(connect(a!, b!))
        yield* settle(connect(a!, c!))
        yield* settle(connect(a!, b!)) // already connected: no new event
        expect(yield* a!.connectedPeers).toEqual([b!.localPeerId, c!.localPeerId].sort())
        yield* a!.hangUp(b!.localPeerId)
        yield* a!.hangUp(b!.localPeerId) // not connected: no-op
        expect(yield* a!.connectedPeers).toEqual([c!.localPeerId])
        yield* a!.hangUp(c!.localPeerId)
        const seen = Chunk.toReadonlyArray(yield* settle(Fiber.join(collected)))
        expect(seen.map((e: PeerEvent) => [e._tag, e.peerId, e._tag === "PeerDisconnected" ? e.reason : e.address])).toEqual([
          ["PeerConnected", b!.localPeerId, b!.listenAddress],
          ["PeerConnected", c!.localPeerId, c!.listenAddress],
          ["PeerDisconnected", b!.localPeerId, "HangUp"],
          ["PeerDisconnected", c!.localPeerId, "HangUp"]
        ])
        expect(yield* a!.connectedPeers).toEqual([])
        // Connections are one-way: b was dialled, it did not dial.
        expect(yield* b!.connectedPeers).toEqual([])
      })
    )

    test("cutting a peer off closes our connection to it and the one it opened to us", 3, ({ nodes: [a, b, c], settle, wait }) =>
      Effect.gen(function* () {
        yield* serveAll(a!)
        yield* serveAll(b!)
        yield* settle(connect(b!, a!))
        yield* settle(connect(c!, a!))
        yield* settle(connect(a!, b!))
        // Their calls authenticate them on their connections to a.
        expect((yield* settle(b!.call(a!.localPeerId, Echo, { text: "b" }, TIMEOUT))).caller).toBe(b!.localPeerId)
        expect((yield* settle(c!.call(a!.localPeerId, Echo, { text: "c" }, TIMEOUT))).caller).toBe(c!.localPeerId)
        yield* a!.cutOff(b!.localPeerId)
        expect(yield* a!.connectedPeers).toEqual([])
        yield* eventually(wait, Effect.map(b!.connectedPeers, (peers) => !peers.includes(a!.localPeerId)))
        // Nobody else's connection is touched.
        expect(yield* c!.connectedPeers).toEqual([a!.localPeerId])
        expect((yield* settle(c!.call(a!.localPeerId, Echo, { text: "still" }, TIMEOUT))).text).toBe("still")
        // A hang-up is ours alone: the connection c opened to a stays.
        yield* settle(connect(a!, c!))
        yield* a!.hangUp(c!.localPeerId)
        yield* wait(Duration.millis(300))
        expect(yield* c!.connectedPeers).toEqual([a!.localPeerId])
      })
    )

    test("concurrent dials of one peer make one connection and one event", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        const events = yield* a!.peerEvents
        yield* settle(Effect.all([connect(a!, b!), connect(a!, b!), connect(a!, b!)], { concurrency: "unbounded" }))
        yield* a!.hangUp(b!.localPeerId)
        const seen = yield* settle(Stream.runCollect(Stream.take(events, 2)))
        expect(Chunk.toReadonlyArray(seen).map((e) => e._tag)).toEqual(["PeerConnected", "PeerDisconnected"])
      })
    )

    test("calling a peer that is not connected fails with PeerUnavailable", 2, ({ nodes: [a, b], settle }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        const error = yield* settle(Effect.flip(a!.call(b!.localPeerId, Echo, { text: "x" }, TIMEOUT)))
        expect(error).toMatchObject({ _tag: "PeerUnavailable", reason: "NotConnected" })
        const streamError = yield* settle(Effect.flip(Stream.runDrain(a!.callStream(b!.localPeerId, Count, { count: 1, size: 1, delayMs: 0 }, TIMEOUT))))
        expect(streamError).toMatchObject({ _tag: "PeerUnavailable", reason: "NotConnected" })
        yield* settle(connect(a!, b!))
        yield* a!.hangUp(b!.localPeerId)
        expect(yield* settle(failureTag(a!.call(b!.localPeerId, Echo, { text: "x" }, TIMEOUT)))).toBe("PeerUnavailable")
      })
    )

    test("dialling a wrong address or a node that is not the PeerId fails", 3, ({ nodes: [a, b, c], settle }) =>
      Effect.gen(function* () {
        const unreachable = yield* settle(Effect.flip(a!.dial(b!.localPeerId, harnessDeadAddress(b!.listenAddress))))
        expect(unreachable).toMatchObject({ _tag: "PeerUnavailable", reason: "Unreachable" })
        expect(yield* settle(failureTag(a!.dial(a!.localPeerId, a!.listenAddress)))).toBe("PeerUnavailable")
        if (harness.pinsServerKey) {
          const impostor = yield* settle(Effect.flip(a!.dial(c!.localPeerId, b!.listenAddress)))
          expect(impostor).toMatchObject({ _tag: "PeerAuthenticationFailed", peerId: c!.localPeerId })
          expect(yield* a!.connectedPeers).toEqual([])
        }
      })
    )

    test("a stream fails (does not hang) when the connection breaks mid-stream", 3, ({ nodes: [a, b, c], settle, wait, shutdown }) =>
      Effect.gen(function* () {
        yield* serveAll(b!)
        yield* serveAll(c!)
        yield* settle(connect(a!, b!))
        yield* settle(connect(a!, c!))
        const received = yield* Ref.make(0)
        const consume = (peer: PeerId) =>
          a!.callStream(peer, Count, { count: 1_000, size: 100, delayMs: 20 }, { timeout: Duration.seconds(30) }).pipe(
            Stream.runForEach(() => Ref.update(received, (n) => n + 1)),
            Effect.either
          )
        // The server goes away mid-stream.
        const fromB = yield* Effect.fork(consume(b!.localPeerId))
        yield* eventually(wait, Effect.map(Ref.get(received), (n) => n >= 3))
        yield* shutdown(1)
        const lost = yield* settle(Fiber.join(fromB))
        expect(Either.getLeft(lost).pipe(Option.map((e) => e._tag))).toEqual(Option.some("PeerUnavailable"))
        expect(yield* Ref.get(received)).toBeGreaterThan(0)
        expect(yield* Ref.get(received)).toBeLessThan(1_000)
        // We hang up mid-stream.
        yield* Ref.set(received, 0)
        const fromC = yield* Effect.fork(consume(c!.localPeerId))
        yield* eventually(wait, Effect.map(Ref.get(received), (n) => n >= 3))
        yield* a!.hangUp(c!.localPeerId)
        const hungUp = yield* settle(Fiber.join(fromC))
        expect(Either.getLeft(hungUp)).toEqual(Option.some(expect.objectContaining({ _tag: "PeerUnavailable", reason: "HangUp" })))
        yield* eventually(wait, Effect.map(a!.connectedPeers, (peers) => peers.length === 0))
      })
    )

    test("a flood from one peer gets RESOURCE_EXHAUSTED while another peer is still served", 3, ({ nodes: [server, flooder, polite], settle, wait }) =>
      Effect.gen(function* () {
        const inFlight = yield* Ref.make(new Map<string, number>())
        const flooderLoadSeenByPolite = yield* Ref.make<ReadonlyArray<number>>([])
        const bump = (peerId: string, delta: number) => Ref.update(inFlight, (m) => new Map(m).set(peerId, (m.get(peerId) ?? 0) + delta))
        yield* server!.handleUnary(Slow, (request, context) =>
          Effect.gen(function* () {
            if (context.peerId === polite!.localPeerId) {
              const load = (yield* Ref.get(inFlight)).get(flooder!.localPeerId) ?? 0
              yield* Ref.update(flooderLoadSeenByPolite, (seen) => [...seen, load])
            }
            yield* bump(context.peerId, 1)
            yield* Effect.sleep(Duration.millis(request.ms))
            yield* bump(context.peerId, -1)
            return { done: true }
          })
        )
        yield* settle(connect(flooder!, server!))
        yield* settle(connect(polite!, server!))
        const flood = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 40 }, () => Effect.either(flooder!.call(server!.localPeerId, Slow, { ms: 1_500 }, TIMEOUT))),
            { concurrency: "unbounded" }
          )
        )
        // The flood has taken all its slots (the rest are being refused).
        yield* eventually(wait, Effect.map(Ref.get(inFlight), (m) => (m.get(flooder!.localPeerId) ?? 0) === CONTRACT_CALL_LIMIT))
        const politeCalls = yield* settle(
          Effect.all(Array.from({ length: 3 }, () => polite!.call(server!.localPeerId, Slow, { ms: 10 }, TIMEOUT)))
        )
        expect(politeCalls).toEqual([{ done: true }, { done: true }, { done: true }])
        // Each polite call was served while the flooder held all its slots.
        expect(yield* Ref.get(flooderLoadSeenByPolite)).toEqual([CONTRACT_CALL_LIMIT, CONTRACT_CALL_LIMIT, CONTRACT_CALL_LIMIT])
        const results = yield* settle(Fiber.join(flood))
        expect(results.filter(Either.isRight).length).toBe(CONTRACT_CALL_LIMIT)
        const refused = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
        expect(refused.length).toBe(40 - CONTRACT_CALL_LIMIT)
        for (const error of refused) expect(error).toMatchObject({ _tag: "RpcRejected", code: "RESOURCE_EXHAUSTED" })
        // The flooder is served again once its calls are done.
        expect(yield* settle(flooder!.call(server!.localPeerId, Slow, { ms: 1 }, TIMEOUT))).toEqual({ done: true })
      })
    )
  })
}

/** An address where nobody listens, shaped like `address` (gRPC: port 1 on loopback; sim: an unused name). */
const harnessDeadAddress = (address: string): string => (address.startsWith("sim://") ? "sim://nobody" : "127.0.0.1:1")
