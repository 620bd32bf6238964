/**
 * `/status` and `/peers` of real nodes, as an operator asks them: a devnet validator producing commits
 * and a fresh full node syncing from it over gRPC on loopback, both run by `runNode` (the layers as
 * `P2pBuilder` wires them, LMDB stores), each with a metrics port. The answers must decode with their
 * Schemas and say what the nodes are doing: heights that move while the full node syncs and stop where
 * its own status report says, the validator listed as a connected peer with its claimed height, the
 * right roles. `soma-p2p status` prints the summary of the live full node.
 */
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, LogLevel, Schema } from "effect"
import { PeersAnswer } from "../../../src/layers/status/peersView.js"
import { StatusAnswer } from "../../../src/layers/status/statusView.js"
import { SOMA_P2P_VERSION } from "../../../src/layers/status/version.js"
import { devnetGenesis } from "../../../src/programs/devnet/layout.js"
import type { ProducerConfig } from "../../../src/programs/devnet/producer.js"
import type { NodeConfig } from "../../../src/programs/node/NodeConfig.js"
import { configPeerId } from "../../../src/programs/node/P2pBuilder.js"
import { runNode, type NodeStatus } from "../../../src/programs/node/runNode.js"
import { statusReport } from "../../../src/programs/status/statusCommand.js"
import { httpRequest } from "../metrics/fixtures.js"
import { freeBasePort } from "../../../src/testkit/ports.js"

const COMMITS = 40
const ROOT = join(import.meta.dirname, "../../..")

const getJson = async <A, I>(url: string, schema: Schema.Schema<A, I>): Promise<A> => {
  const answer = await Effect.runPromise(httpRequest(url))
  if (answer.status !== 200) throw new Error(`${url} answered ${answer.status}: ${answer.body}`)
  expect(answer.contentType).toContain("application/json")
  return Schema.decodeUnknownSync(schema)(JSON.parse(answer.body))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs the installed command (`bin/soma-p2p.mjs`) and gives its exit code and output. */
const runCli = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, "bin/soma-p2p.mjs"), ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
    )
  })

describe("the status API of live nodes", () => {
  it("/status and /peers follow a full node syncing from a validator; soma-p2p status prints it", { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "soma-status-"))
    const basePort = await freeBasePort(7)
    const { chain, nodes } = devnetGenesis({ validators: 4, fullnodes: 1, basePort, dir, plaintext: true, seed: 12, commitsPerEpoch: 25, transactionsPerBlock: 2 })
    for (const node of nodes) mkdirSync(join(dir, node.name), { recursive: true })
    // Only validator 0 runs (it produces the whole chain); the metrics ports are the two after the nodes.
    const validator: NodeConfig = { ...nodes[0]!.config, metricsPort: basePort + 5 }
    const fullNode: NodeConfig = { ...nodes[4]!.config, metricsPort: basePort + 6 }
    const validatorUrl = `http://127.0.0.1:${basePort + 5}`
    const fullNodeUrl = `http://127.0.0.1:${basePort + 6}`
    const { validatorAddress: _address, ...chainJson } = chain
    const producer: ProducerConfig = { chain: chainJson, basePort, rate: 20, commits: COMMITS }

    let latest: NodeStatus | undefined
    const quiet = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Logger.withMinimumLogLevel(LogLevel.Error))
    const validatorFiber = Effect.runFork(quiet(runNode(validator, { producer })))
    const fullNodeFiber = Effect.runFork(quiet(runNode(fullNode, { statusIntervalMs: 200, onStatus: (s) => Effect.sync(() => (latest = s)) })))
    try {
      // Poll the full node's /status as it syncs, as a script would.
      const samples: Array<StatusAnswer> = []
      const deadline = Date.now() + 180_000
      while (Date.now() < deadline) {
        const status = await getJson(`${fullNodeUrl}/status`, StatusAnswer).catch(() => undefined)
        if (status !== undefined) {
          samples.push(status)
          if ((status.heights.executed ?? 0) >= COMMITS && latest !== undefined && latest.highestExecuted >= COMMITS) break
        }
        await sleep(100)
      }
      const last = samples.at(-1)!
      expect(last.heights.executed, "the full node synced and executed the chain").toBeGreaterThanOrEqual(COMMITS)

      // Heights moved while it synced, never went back, and executed ≤ stored, certified ≤ stored ≤ target in every answer.
      const stored = samples.map((s) => s.heights.stored!)
      expect(new Set(stored).size, `stored heights seen: ${[...new Set(stored)].join(",")}`).toBeGreaterThanOrEqual(2)
      for (let i = 1; i < samples.length; i++) expect(stored[i]!).toBeGreaterThanOrEqual(stored[i - 1]!)
      for (const s of samples) {
        expect(s.heights.executed!).toBeLessThanOrEqual(s.heights.stored!)
        expect(s.heights.certified!).toBeLessThanOrEqual(s.heights.stored!)
        expect(s.heights.stored!).toBeLessThanOrEqual(s.heights.networkTarget!)
      }
      expect(samples.some((s) => s.sync?.state === "Syncing" || s.heights.stored! < COMMITS)).toBe(true)

      // Production has stopped: the answer now equals what the node's own status report says.
      await sleep(500)
      const final = await getJson(`${fullNodeUrl}/status`, StatusAnswer)
      const report = latest!
      expect(final).toMatchObject({
        peerId: configPeerId(fullNode),
        role: "FullNode",
        version: SOMA_P2P_VERSION,
        epoch: report.epoch,
        heights: { stored: report.highestSyncedCommit, certified: report.highestCertifiedCommit, executed: report.highestExecuted, networkTarget: report.targetCommit },
        sync: { state: "Synced", behind: 0 },
        peers: { connected: report.connectedPeers, known: report.knownPeers, banned: 0 }
      })
      expect(final.heights.stored).toBe(COMMITS)
      expect(final.epoch).toBeGreaterThan(0)
      expect(final.peers.connected).toBeGreaterThanOrEqual(1)
      expect(final.uptimeSeconds).toBeGreaterThan(0)

      // The validator is a connected peer of the full node, with its claimed height and address.
      const peers = await getJson(`${fullNodeUrl}/peers`, PeersAnswer)
      expect(peers.total).toBe(final.peers.known)
      const v = peers.peers.find((p) => p.peerId === configPeerId(validator))
      expect(v, "validator 0 is listed").toBeDefined()
      expect(v).toMatchObject({ state: "Connected", address: `127.0.0.1:${basePort}`, banned: false, banExpiresAtMs: null, seed: true })
      expect(v!.claimedHeight).toBeGreaterThanOrEqual(COMMITS - 1)
      expect(v!.score).toBeLessThanOrEqual(0)
      expect(peers.peers[0]!.state).toBe("Connected")
      // The validators that never started are known (from the config) but not connected.
      expect(peers.peers.filter((p) => p.state === "Connected").length).toBe(final.peers.connected)
      const one = await getJson(`${fullNodeUrl}/peers?limit=1`, PeersAnswer)
      expect([one.peers.length, one.truncated]).toEqual([1, peers.total > 1])

      // The validator's own status: its role and the chain it produced.
      const validatorStatus = await getJson(`${validatorUrl}/status`, StatusAnswer)
      expect(validatorStatus).toMatchObject({ role: "Validator", peerId: configPeerId(validator), heights: { stored: COMMITS } })

      expect((await Effect.runPromise(httpRequest(`${fullNodeUrl}/nope`))).status).toBe(404)
      expect((await Effect.runPromise(httpRequest(`${fullNodeUrl}/status`, "DELETE"))).status).toBe(405)

      // `soma-p2p status`: in process, and as the installed command.
      const summary = await Effect.runPromise(statusReport({ url: fullNodeUrl, peers: 3, json: false }))
      expect(summary).toContain(`node     ${configPeerId(fullNode)}`)
      expect(summary).toContain(`FullNode, soma-p2p ${SOMA_P2P_VERSION}`)
      expect(summary).toContain(`heights  stored ${COMMITS}, certified ${final.heights.certified}, executed ${COMMITS}, network ${COMMITS}`)
      expect(summary).toContain("sync     Synced")
      expect(summary).toContain(`  ${configPeerId(validator).slice(0, 16)}  Connected`)
      const cli = await runCli(["status", "--url", `${fullNodeUrl}/`])
      expect(cli.stderr).toBe("")
      expect(cli.code).toBe(0)
      expect(cli.stdout).toContain(`heights  stored ${COMMITS},`)
      expect(cli.stdout).toContain("top peers")
      const json = await runCli(["status", "--url", fullNodeUrl, "--json"])
      expect(json.code).toBe(0)
      expect(Schema.decodeUnknownSync(StatusAnswer)(JSON.parse(json.stdout)).peerId).toBe(configPeerId(fullNode))
    } finally {
      await Effect.runPromise(Fiber.interruptAll([fullNodeFiber, validatorFiber]))
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
