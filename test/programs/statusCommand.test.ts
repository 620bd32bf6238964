/**
 * `soma-p2p status` when things go wrong, and its summary: a closed port is one clear line on stderr
 * and a non-zero exit (as the installed command); something that is not a soma-p2p node, an error
 * answer or a stuck server is a clear failure, never a hang or a stack trace. (Against a live node:
 * `test/layers/status/liveNode.test.ts`.)
 */
import { execFile } from "node:child_process"
import { createServer, type Server } from "node:http"
import { createServer as createTcpServer, type AddressInfo } from "node:net"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { PeersAnswer } from "../../src/layers/status/peersView.js"
import type { StatusAnswer } from "../../src/layers/status/statusView.js"
import { endpointRoot, EXIT_UNREACHABLE, formatUptime, renderStatus, statusReport } from "../../src/programs/status/statusCommand.js"

const ROOT = join(import.meta.dirname, "../..")

const runCli = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, "bin/soma-p2p.mjs"), ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
    )
  })

/** A port nothing listens on (bound, then closed). */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createTcpServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

/** An HTTP server answering every request with `status` and `body` (or never, with `status` 0), for the test's scope. */
const fakeServer = (status: number, body: string) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<Server>((resolve) => {
          const server = createServer((_request, response) => {
            if (status !== 0) response.writeHead(status, { "content-type": "application/json" }).end(body)
          })
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
    ),
    (server) => Effect.promise(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))))
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

const failureOf = (url: string) => Effect.flip(statusReport({ url, peers: 3, json: false })).pipe(Effect.map((e) => e.message))

const STATUS: StatusAnswer = {
  peerId: "ab".repeat(32) as StatusAnswer["peerId"],
  role: "FullNode",
  version: "0.1.0",
  uptimeSeconds: 3_723.4,
  atMs: 1_800_000_000_000,
  epoch: 3,
  heights: { stored: 120, certified: 119, executed: 118, networkTarget: 500, lowestAvailable: 1 },
  sync: { state: "Syncing", behind: 380, peersWithClaims: 4 },
  peers: { connected: 4, known: 12, banned: 1 }
}

describe("soma-p2p status", () => {
  it("against a closed port: exit code 1 and one line saying the node cannot be reached", { timeout: 60_000 }, async () => {
    const port = await closedPort()
    const result = await runCli(["status", "--url", `http://127.0.0.1:${port}`])
    expect(result.code).toBe(EXIT_UNREACHABLE)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(
      `soma-p2p status: cannot reach the node at http://127.0.0.1:${port}: ECONNREFUSED (is it running with --metrics-port, on this host and port?)\n`
    )
  })

  it("a bad URL is a clear error too", { timeout: 60_000 }, async () => {
    const result = await runCli(["status", "--url", "not a url"])
    expect(result.code).toBe(EXIT_UNREACHABLE)
    expect(result.stderr).toContain("soma-p2p status: not a URL: not a url")
  })

  it.scopedLive("something that is not a soma-p2p node, an error answer, or a server that never answers: a clear failure", () =>
    Effect.gen(function* () {
      const other = yield* fakeServer(200, JSON.stringify({ hello: "world" }))
      expect(yield* failureOf(other)).toBe(`${other}/status did not answer as a soma-p2p node does (is this the node's metrics port?)`)
      const failing = yield* fakeServer(503, JSON.stringify({ error: "status unavailable: sync status: store closed" }))
      expect(yield* failureOf(failing)).toBe(`${failing}/status answered HTTP 503: {"error":"status unavailable: sync status: store closed"}`)
      const stuck = yield* fakeServer(0, "")
      const started = Date.now()
      expect(yield* failureOf(stuck)).toBe(`no answer from ${stuck}/status within 5s`)
      expect(Date.now() - started).toBeLessThan(10_000)
    })
  )

  it("prints a short summary: identity, heights, sync, peers, and the best peers", () => {
    const peers: PeersAnswer = {
      atMs: STATUS.atMs,
      total: 12,
      limit: 1,
      truncated: true,
      peers: [
        {
          peerId: "cd".repeat(32) as PeersAnswer["peers"][number]["peerId"],
          role: "Validator",
          address: "10.0.0.7:7100",
          state: "Connected",
          stateSinceMs: STATUS.atMs - 1_000,
          banned: false,
          banExpiresAtMs: null,
          score: -1.5,
          rttMs: 12.3,
          claimedHeight: 500,
          inflight: 2,
          seed: true,
          allowlisted: false,
          bans: 0,
          penalties: 0,
          lastOffence: null
        }
      ]
    }
    expect(renderStatus(STATUS, peers)).toBe(
      [
        `node     ${"ab".repeat(32)}`,
        "         FullNode, soma-p2p 0.1.0, up 1h 02m 03s",
        "epoch    3",
        "heights  stored 120, certified 119, executed 118, network 500",
        "sync     Syncing (380 behind), 4 peers with a height claim",
        "peers    4 connected, 12 known, 1 banned",
        "top peers (1 of 12)",
        `  ${"cd".repeat(8)}  Connected     10.0.0.7:7100           score -1.50  rtt 12.3 ms  height 500`,
        ""
      ].join("\n")
    )
    // A node without some services: dashes, not zeros.
    const bare = renderStatus({ ...STATUS, role: null, epoch: null, sync: null, heights: { ...STATUS.heights, executed: null }, peers: { connected: 0, known: null, banned: null } })
    expect(bare).toContain("executed -,")
    expect(bare).toContain("sync     -\n")
    expect(bare).toContain("peers    0 connected, - known, - banned")
    expect([formatUptime(5.9), formatUptime(245), formatUptime(90_061)]).toEqual(["5s", "4m 05s", "25h 01m 01s"])
    expect(["http://h:1", "http://h:1/", "http://h:1/status", "http://h:1/metrics/"].map(endpointRoot)).toEqual(Array(4).fill("http://h:1"))
  })
})
