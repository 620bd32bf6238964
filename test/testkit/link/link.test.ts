/**
 * The link emulator end to end: a relay process (startLink) between real loopback sockets and an
 * echo or sink server, checked for what a peer behind it sees — the delay and the bandwidth cap within
 * 10 %, a cut seen by both ends and healed by reconnecting, a stall that holds bytes and delivers them
 * in order, a delay changed on an open connection, FIN propagation, a refused target, and a sender
 * pushed back instead of buffered without bound.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import { highWaterBytes } from "../../../src/testkit/link/conditions.js"
import { linkResource, startLink, type Link, type LinkOptions } from "../../../src/testkit/link/link.js"
import {
  closed,
  connectTo,
  echoServer,
  eventually,
  median,
  pattern,
  ping,
  receivedBytes,
  sinkServer,
  sleep,
  writeInPieces,
  type TestServer
} from "./tcp.js"

/** Pings per measurement: the median of 7 shrugs off a late timer or a scheduling hiccup. */
const PINGS = 7

describe("link emulator", () => {
  let echo: TestServer
  let sink: Awaited<ReturnType<typeof sinkServer>>
  const links: Array<Link> = []

  beforeAll(async () => {
    echo = await echoServer()
    sink = await sinkServer()
  })
  afterEach(async () => {
    await Promise.all(links.splice(0).map((link) => link.close()))
  })
  afterAll(async () => {
    await echo.close()
    await sink.close()
  })

  const link = async (options: Omit<LinkOptions, "target"> & { readonly to: TestServer }): Promise<Link> => {
    const { to, ...rest } = options
    const started = await startLink({ ...rest, target: `127.0.0.1:${to.port}` })
    links.push(started)
    return started
  }

  /** Round-trip times of `count` pings, after one to warm up the path. */
  const pings = async (socket: Parameters<typeof ping>[0], count = PINGS): Promise<Array<number>> => {
    await ping(socket)
    const times: Array<number> = []
    for (let i = 0; i < count; i++) times.push(await ping(socket))
    return times
  }

  it("adds the one-way delay in each direction: 50 ms one way is a 100 ms round trip", async () => {
    const emulated = await link({ to: echo, oneWayDelayMs: 50 })
    const socket = await connectTo(emulated.port)
    const times = await pings(socket)
    console.log(`link delay: 50 ms one way, round trips ${times.map((t) => t.toFixed(1)).join(" ")} ms`)
    expect(Math.abs(median(times) - 100)).toBeLessThan(10)
    // The delay is a floor: no byte is ever early.
    expect(Math.min(...times)).toBeGreaterThanOrEqual(100)
    socket.destroy()
  })

  it("caps bandwidth per direction: 5 MB at 20 Mbit/s takes 2 s", async () => {
    const emulated = await link({ to: sink, oneWayDelayMs: 0, bandwidthBitsPerSec: 20_000_000 })
    const socket = await connectTo(emulated.port)
    const payload = pattern(5_000_000)
    const before = sink.connections.length
    const started = performance.now()
    socket.write(payload)
    expect(await eventually(() => receivedBytes(sink.connections[before]) === payload.length, 10_000)).toBe(true)
    const seconds = (performance.now() - started) / 1000
    const bitsPerSec = (payload.length * 8) / seconds
    console.log(`link bandwidth: cap 20 Mbit/s, measured ${(bitsPerSec / 1e6).toFixed(2)} Mbit/s over ${seconds.toFixed(2)} s`)
    expect(Math.abs(bitsPerSec - 20_000_000) / 20_000_000).toBeLessThan(0.1)
    socket.destroy()
  })

  it("pushes back on a sender faster than the cap instead of buffering without bound", async () => {
    const conditions = { oneWayDelayMs: 10, bandwidthBitsPerSec: 8_000_000 }
    const emulated = await link({ to: sink, ...conditions })
    const socket = await connectTo(emulated.port)
    const payload = pattern(48_000_000)
    writeInPieces(socket, payload)
    await sleep(1_500)
    const stats = await emulated.stats()
    console.log(`link backpressure: relay holds ${stats.bytesQueued} bytes, sender holds ${socket.writableLength} unsent`)
    // The relay holds at most its high-water mark plus one read (64 KiB); most of the rest waits at the
    // sender (some sits in the kernel's socket buffers, 1.5 MB has crossed the link).
    expect(stats.bytesQueued).toBeLessThanOrEqual(highWaterBytes(conditions) + 64 * 1024)
    expect(socket.writableLength).toBeGreaterThan(payload.length / 2)
    socket.destroy()
  })

  it("a cut resets both ends and refuses new connections; after heal a new connection works", async () => {
    const emulated = await link({ to: echo, oneWayDelayMs: 5 })
    const before = await connectTo(emulated.port)
    const beforeClosed = closed(before)
    await ping(before)
    const echoClosedBefore = echo.closedCount()

    await emulated.cut()
    const seenByClient = await beforeClosed
    expect(seenByClient.error).toBe("ECONNRESET")
    expect(await eventually(() => echo.closedCount() > echoClosedBefore, 2_000)).toBe(true)

    // During the cut a connection may be accepted, but it is reset at once and carries nothing.
    const during = await connectTo(emulated.port).catch(() => undefined)
    if (during !== undefined) {
      const fate = closed(during)
      during.write("p")
      expect((await fate).gotData).toBe(false)
    }
    const stats = await emulated.stats()
    expect(stats.mode).toBe("cut")
    expect(stats.connectionsOpen).toBe(0)

    await emulated.heal()
    const after = await connectTo(emulated.port)
    expect(await ping(after)).toBeGreaterThanOrEqual(10)
    expect((await emulated.stats()).connectionsOpen).toBe(1)
    after.destroy()
  })

  it("a stall holds bytes without dropping them; heal delivers them in order", async () => {
    const emulated = await link({ to: sink, oneWayDelayMs: 10 })
    const socket = await connectTo(emulated.port)
    const before = sink.connections.length
    const first = pattern(1_000)
    socket.write(first)
    expect(await eventually(() => receivedBytes(sink.connections[before]) === first.length, 2_000)).toBe(true)

    await emulated.stall()
    // More than the kernel's loopback buffers and the relay together absorb: the sender must be pushed back.
    const held = pattern(24_000_000, first.length)
    writeInPieces(socket, held)
    await sleep(500)
    console.log(`link stall: sender holds ${socket.writableLength} of ${held.length} bytes unsent`)
    expect(receivedBytes(sink.connections[before])).toBe(first.length)
    // A stalled link reads nothing: the bytes wait at the sender and in the kernel, not in the relay.
    expect(socket.writableLength).toBeGreaterThan(held.length / 2)
    const stalled = await emulated.stats()
    expect(stalled.bytesQueued).toBeLessThanOrEqual(64 * 1024)
    expect(stalled.connectionsOpen).toBe(1)

    await emulated.heal()
    const total = first.length + held.length
    expect(await eventually(() => receivedBytes(sink.connections[before]) === total, 10_000)).toBe(true)
    const received = Buffer.concat((sink.connections[before]?.chunks ?? []).map((chunk) => chunk.data))
    expect(received.equals(pattern(total))).toBe(true)
    socket.destroy()
  })

  it("set changes the delay of an open connection", async () => {
    const emulated = await link({ to: echo, oneWayDelayMs: 25 })
    const socket = await connectTo(emulated.port)
    const fast = median(await pings(socket))
    await emulated.set({ oneWayDelayMs: 75 })
    const slow = median(await pings(socket))
    console.log(`link set: round trip ${fast.toFixed(1)} ms at 25 ms one way, ${slow.toFixed(1)} ms after set to 75 ms`)
    expect(Math.abs(fast - 50) / 50).toBeLessThan(0.1)
    expect(Math.abs(slow - 150) / 150).toBeLessThan(0.1)
    socket.destroy()
  })

  it("a FIN crosses the link behind the data, after the delay", async () => {
    const emulated = await link({ to: echo, oneWayDelayMs: 30 })
    const socket = await connectTo(emulated.port)
    const chunks: Array<Buffer> = []
    socket.on("data", (data: Buffer) => chunks.push(data))
    const ended = new Promise<number>((resolve) => socket.once("end", () => resolve(performance.now())))
    const started = performance.now()
    socket.end("hello")
    // The echo server ends its side when ours ends: one round trip for the FIN to get there and back.
    expect((await ended) - started).toBeGreaterThanOrEqual(60)
    expect(Buffer.concat(chunks).toString()).toBe("hello")
  })

  it("a refused target closes the accepted connection and the link keeps serving", async () => {
    const gone = await echoServer()
    await gone.close()
    const emulated = await link({ to: gone })
    const socket = await connectTo(emulated.port)
    const fate = await closed(socket)
    expect(fate.gotData).toBe(false)
    const stats = await emulated.stats()
    expect(stats.targetFailures).toBe(1)
    expect(stats.connectionsOpen).toBe(0)
  })

  it.scoped("linkResource closes the link with its scope", () =>
    Effect.gen(function* () {
      const closedLink = yield* Effect.scoped(
        Effect.gen(function* () {
          const emulated = yield* linkResource({ target: `127.0.0.1:${echo.port}`, oneWayDelayMs: 1 })
          const socket = yield* Effect.promise(() => connectTo(emulated.port))
          const rtt = yield* Effect.promise(() => ping(socket))
          expect(rtt).toBeGreaterThanOrEqual(2)
          socket.destroy()
          return emulated
        })
      )
      const afterClose = yield* Effect.either(Effect.tryPromise(() => closedLink.stats()))
      expect(afterClose._tag).toBe("Left")
    })
  )
})
