/**
 * The status endpoint over real HTTP, on the services a test gives it: `/status` and `/peers` are
 * read from the PeerManager (and whatever else is present) and decode with their Schemas; `?limit=`
 * bounds `/peers`; unknown paths, other methods, bad limits and malformed requests get an answer,
 * never a crash; closing the scope drops keep-alive connections at once.
 */
import { request as httpRequestRaw, Agent } from "node:http"
import { connect } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import { MetricsLayer } from "../../../src/layers/metrics/MetricsLayer.js"
import { makeMetricsServer } from "../../../src/layers/metrics/server.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { PeersAnswer } from "../../../src/layers/status/peersView.js"
import { StatusAnswer } from "../../../src/layers/status/statusView.js"
import { SOMA_P2P_VERSION } from "../../../src/layers/status/version.js"
import { MetricsServer } from "../../../src/services/Metrics.js"
import { PeerManager } from "../../../src/services/PeerManager.js"
import { StateSync, type StateSyncService } from "../../../src/services/StateSync.js"
import { StoreError } from "../../../src/services/Store.js"
import { httpRequest } from "../metrics/fixtures.js"
import { simPeerId } from "../sync/syncSim.js"

const decodeStatus = Schema.decodeUnknownSync(StatusAnswer)
const decodePeers = Schema.decodeUnknownSync(PeersAnswer)

/** A raw exchange on a fresh TCP connection: what the server writes back before closing. */
const rawExchange = (port: number, bytes: string) =>
  Effect.promise(
    () =>
      new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1", () => socket.write(bytes))
        let answer = ""
        socket.on("data", (chunk) => (answer += chunk.toString()))
        socket.on("close", () => resolve(answer))
        socket.on("error", () => resolve(answer))
        socket.setTimeout(3_000, () => socket.destroy())
      })
  )

describe("the status endpoint", () => {
  it.scopedLive("answers /status and /peers from the services it is built over, as their Schemas say", () =>
    Effect.gen(function* () {
      const seeds = [1, 2, 3].map((n) => ({ peerId: simPeerId(n), address: `sim://${n}` }))
      const peerManager = yield* makePeerManager({ localPeerId: simPeerId(0), seeds })
      yield* peerManager.reportOffence(simPeerId(2), "InvalidData", "test")
      const context = yield* Layer.build(MetricsLayer({ port: 0, refreshIntervalMs: 50 }).pipe(Layer.provide(Layer.succeed(PeerManager, peerManager))))
      const { baseUrl, port } = Context.get(context, MetricsServer)
      expect(baseUrl).toBe(`http://127.0.0.1:${port}`)

      const statusAnswer = yield* httpRequest(`${baseUrl}/status`)
      expect(statusAnswer.status).toBe(200)
      expect(statusAnswer.contentType).toContain("application/json")
      const status = decodeStatus(JSON.parse(statusAnswer.body))
      expect(status.peerId).toBe(simPeerId(0))
      expect(status.version).toBe(SOMA_P2P_VERSION)
      expect(status.peers).toEqual({ connected: 0, known: 3, banned: 1 })
      // No sync, executor or discovery here: their fields are null, not a made-up 0.
      expect([status.role, status.epoch, status.sync, status.heights.stored, status.heights.executed]).toEqual([null, null, null, null, null])

      const peers = decodePeers(JSON.parse((yield* httpRequest(`${baseUrl}/peers`)).body))
      expect([peers.total, peers.peers.length, peers.truncated, peers.limit]).toEqual([3, 3, false, 100])
      const banned = peers.peers.find((p) => p.peerId === simPeerId(2))!
      expect(banned.banned).toBe(true)
      expect(banned.banExpiresAtMs).toBeGreaterThan(peers.atMs)
      expect(banned.lastOffence).toBe("InvalidData")
      // The banned peer's score is the worst: it is listed last.
      expect(peers.peers.at(-1)!.peerId).toBe(simPeerId(2))
      for (const p of peers.peers) {
        expect([p.state, p.seed, p.address]).toEqual(["Disconnected", true, `sim://${seeds.findIndex((s) => s.peerId === p.peerId) + 1}`])
      }

      const one = decodePeers(JSON.parse((yield* httpRequest(`${baseUrl}/peers?limit=1`)).body))
      expect([one.total, one.peers.length, one.truncated, one.limit]).toEqual([3, 1, true, 1])
      expect(one.peers[0]).toEqual(peers.peers[0])
      for (const bad of ["abc", "-1", "1.5", "10001"]) {
        const answer = yield* httpRequest(`${baseUrl}/peers?limit=${bad}`)
        expect([answer.status, answer.body]).toEqual([400, JSON.stringify({ error: "limit must be an integer from 0 to 10000" })])
      }
    })
  )

  it.scopedLive("404 for unknown paths, 405 for other methods, HEAD without a body, 400 for a malformed request — and it keeps serving", () =>
    Effect.gen(function* () {
      const { port } = yield* makeMetricsServer({ port: 0 })
      const base = `http://127.0.0.1:${port}`
      for (const path of ["/", "/status/x", "/statusx", "/peers/1", "/metrics/x", "/../etc/passwd"]) {
        const answer = yield* httpRequest(`${base}${path}`)
        expect([path, answer.status]).toEqual([path, 404])
      }
      for (const path of ["/status", "/peers", "/metrics"]) {
        const answer = yield* httpRequest(`${base}${path}`, "POST")
        expect([path, answer.status]).toEqual([path, 405])
        const head = yield* httpRequest(`${base}${path}`, "HEAD")
        expect([path, head.status, head.body]).toEqual([path, 200, ""])
      }
      const garbage = yield* rawExchange(port, "\x00\x01 not http at all\r\n\r\n")
      expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request/)
      const hugeHeader = yield* rawExchange(port, `GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`)
      expect(hugeHeader).toMatch(/^HTTP\/1\.1 431/)
      // Still serving, and without services the status is all nulls but valid.
      const status = yield* httpRequest(`${base}/status`)
      expect(status.status).toBe(200)
      expect(decodeStatus(JSON.parse(status.body)).peerId).toBeNull()
    })
  )

  it.scopedLive("a service that cannot be read is a 503 with the reason, and the endpoint keeps serving", () =>
    Effect.gen(function* () {
      // Only `status` is read by the endpoint; the rest of the service is not needed here.
      const failing: Pick<StateSyncService, "status"> = { status: Effect.fail(new StoreError({ operation: "watermarks", detail: "environment closed" })) }
      const { baseUrl } = yield* makeMetricsServer({ port: 0 }).pipe(Effect.provideService(StateSync, failing as StateSyncService))
      for (const path of ["/status", "/peers"]) {
        const answer = yield* httpRequest(`${baseUrl}${path}`)
        expect([path, answer.status, answer.body]).toEqual([path, 503, JSON.stringify({ error: "status unavailable: sync status: store watermarks failed: environment closed" })])
      }
      expect((yield* httpRequest(`${baseUrl}/metrics`)).status).toBe(200)
    })
  )

  it.live("closing its scope stops it at once, with an idle keep-alive connection and a half-sent request open", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { port } = yield* Scope.extend(makeMetricsServer({ port: 0 }), scope)
      const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 })
      const status = yield* Effect.promise(
        () =>
          new Promise<number>((resolve, reject) => {
            const req = httpRequestRaw({ host: "127.0.0.1", port, path: "/status", agent }, (res) => {
              res.resume()
              res.on("end", () => resolve(res.statusCode ?? 0))
            })
            req.on("error", reject)
            req.end()
          })
      )
      expect(status).toBe(200)
      // A slow client that has sent half a request: a connection in use, not idle.
      const slow = connect(port, "127.0.0.1")
      slow.on("error", () => undefined)
      yield* Effect.promise(() => new Promise<void>((resolve) => slow.once("connect", () => slow.write("GET /status HTTP/1.1\r\nHost: x\r\n", () => resolve()))))
      yield* Effect.sleep("50 millis")
      // The agent keeps its socket open and idle, the slow client its own in use: the close waits for neither.
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(1_000)
      agent.destroy()
      // The server hung up on the slow client too.
      const hungUp = yield* Effect.promise(() => new Promise<boolean>((resolve) => (slow.closed ? resolve(true) : slow.once("close", () => resolve(true))))).pipe(
        Effect.timeoutTo({ duration: "1 second", onTimeout: () => false, onSuccess: (closed) => closed })
      )
      expect(hungUp).toBe(true)
      slow.destroy()
      const refused = yield* Effect.exit(Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/status`)))
      expect(Exit.isFailure(refused)).toBe(true)
    })
  )
})
