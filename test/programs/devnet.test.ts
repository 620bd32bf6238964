/**
 * The main job end to end, as a user runs it: `devnet --commits N --exit-when-synced --json` starts
 * validators and a fresh full node in separate processes over real gRPC with authentication and LMDB,
 * and must exit 0 with a summary whose counts match — also when a validator is killed mid-way.
 */
import { spawn } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"

interface DevnetRun {
  readonly code: number | null
  readonly events: ReadonlyArray<Record<string, unknown>>
  readonly stderr: string
}

const runDevnet = (args: ReadonlyArray<string>) =>
  new Promise<DevnetRun>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/programs/cli.ts", "devnet", "--json", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (out += c.toString()))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    child.on("exit", (code) => {
      const events = out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      resolve({ code, events, stderr })
    })
  })

interface SummaryNode {
  readonly name: string
  readonly role: string
  readonly synced: number
  readonly executed: number
  readonly stateMatches: boolean
  readonly penalised: Record<string, { bans: number; penalties: number }>
}

interface Summary {
  readonly ok: boolean
  readonly commits: number
  readonly bans: number
  readonly penalties: number
  readonly nodes: Array<SummaryNode>
}

const COMMITS = 200
const common = ["--commits", String(COMMITS), "--exit-when-synced", "--tx-per-block", "2", "--commits-per-epoch", "80", "--timeout", "400"]

describe("devnet (the main job)", () => {
  it("syncs and executes all commits on a fresh full node, and exits 0 with matching counts", async () => {
    const run = await runDevnet([...common, "--base-port", "7300"])
    // On a failed verdict, say why: the summary (bans, penalties, unclean stops, heights) and the last stderr.
    const verdict = JSON.stringify(run.events.find((e) => e["event"] === "summary") ?? run.events.slice(-3))
    expect(run.code, `${verdict}\n${run.stderr.slice(-8000)}`).toBe(0)
    const ready = run.events.find((e) => e["event"] === "ready") as { nodes: Array<{ name: string; peerId: string; address: string }> }
    expect(ready.nodes.map((n) => n.name)).toEqual(["validator-0", "validator-1", "validator-2", "validator-3", "fullnode-0"])
    for (const n of ready.nodes) {
      expect(n.peerId).toMatch(/^[0-9a-f]{64}$/)
      expect(n.address).toMatch(/^127\.0\.0\.1:73\d\d$/)
    }
    const summary = run.events.find((e) => e["event"] === "summary") as unknown as Summary
    expect(summary.ok).toBe(true)
    expect(summary.commits).toBe(COMMITS)
    // Every node is honest: no node banned or penalised another.
    expect([summary.bans, summary.penalties]).toEqual([0, 0])
    expect(summary.nodes.map((n) => n.penalised)).toEqual(summary.nodes.map(() => ({})))
    const full = summary.nodes.find((n) => n.role === "FullNode")!
    expect(full).toMatchObject({ synced: COMMITS, executed: COMMITS, stateMatches: true })
    // The full node knew only validator-0, so it discovered the others to be connected to all four.
    const progress = run.events.filter((e) => e["event"] === "progress") as Array<{ nodes: Array<{ name: string; connectedPeers?: number }> }>
    expect(Math.max(...progress.map((p) => p.nodes.find((n) => n.name === "fullnode-0")?.connectedPeers ?? 0))).toBe(4)
    // Validators store each commit before its votes exist (as consensus does): at times their certified
    // tip trails what they stored, and it never runs ahead of it.
    const validatorHeights = progress.flatMap((p) =>
      p.nodes.filter((n) => n.name.startsWith("validator")) as Array<{ highestSyncedCommit?: number; highestCertifiedCommit?: number }>
    )
    const measured = validatorHeights.filter((n) => n.highestSyncedCommit !== undefined && n.highestCertifiedCommit !== undefined)
    expect(measured.every((n) => n.highestCertifiedCommit! <= n.highestSyncedCommit!)).toBe(true)
    expect(measured.some((n) => n.highestCertifiedCommit! < n.highestSyncedCommit!)).toBe(true)
  }, 420_000)

  it("still syncs everything when a validator process is killed mid-way", async () => {
    const run = await runDevnet([...common, "--base-port", "7400", "--kill-validator-at", "60"])
    expect(run.code, run.stderr.slice(-2000)).toBe(0)
    const killed = run.events.find((e) => e["event"] === "killed")
    expect(killed).toMatchObject({ name: "validator-3" })
    const summary = run.events.find((e) => e["event"] === "summary") as unknown as Summary
    expect(summary.ok).toBe(true)
    expect([summary.bans, summary.penalties]).toEqual([0, 0])
    expect(summary.nodes.find((n) => n.role === "FullNode")).toMatchObject({ synced: COMMITS, executed: COMMITS, stateMatches: true })
  }, 420_000)
})
