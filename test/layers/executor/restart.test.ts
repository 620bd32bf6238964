/**
 * Executor restart under kill -9: a child process (a node with real gRPC, LMDB and the executor) feeds
 * a chain through the validator path and executes it; it is killed with SIGKILL at random moments and
 * restarted on the same store. After every kill the reopened store must hold exactly the execution of
 * commits 1..w (w = executor watermark): every transaction of those commits executed once — effects
 * log, executed-digest set, balances, shared values, epoch and state digest equal the fold over that
 * prefix — and nothing of later commits; and w is at least the last execution the child reported.
 * A last run goes to the end: watermark = highest commit.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { genesisFromChain } from "../../../src/testkit/executorGenesis.js"
import { ChainGenerator, type ChainConfig } from "../../../src/testkit/chain.js"
import { LmdbStoreLayer } from "../../../src/layers/store/LmdbStoreLayer.js"
import { Store } from "../../../src/services/Store.js"
import { saveChain } from "../../fixtures/store/chainFile.js"
import { expectStoreHolds, fold, withDuplicates } from "./fixtures.js"

const COMMITS = 300
const KILLS = 5
/** Low enough that some transfers fail (amounts are 1..100), so failed effects survive restarts too. */
const BALANCE = 600
/**
 * Kills are aimed at random executed heights within the first KILL_SPAN commits, one per equal slice.
 * A kill lands a little later than its aim (a 64-commit catch-up write can complete after it), so
 * the span leaves room for two such overshoots before the end: no child finishes before its kill.
 */
const KILL_SPAN = 120
/**
 * Commits stored before the executor starts in the catch-up runs: more than one 64-commit write, and
 * small enough that two such runs leave most of the chain for the others.
 */
const HEAD_START = 90
/** Extra random delay after the aimed height is reported, so kills land anywhere in the work that follows. */
const MAX_EXTRA_DELAY_MS = 10
/** A child that neither finishes nor gets killed by then is stuck (a run takes a few seconds). */
const CHILD_TIMEOUT_MS = 45_000

const CONFIG: ChainConfig = { seed: 31, validators: 4, commitsPerEpoch: 70, transactionsPerBlock: 3, accounts: 8 }
const GENERATOR = new ChainGenerator(CONFIG)
const { chain: CHAIN, copies: COPIES } = withDuplicates(GENERATOR, GENERATOR.take(COMMITS), 32)
const GENESIS = genesisFromChain(GENERATOR, BALANCE)
const SUBDAGS = CHAIN.map((c) => c.subDag)

const dir = mkdtempSync(join(tmpdir(), "soma-executor-restart-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const chainPath = join(dir, "chain.json")
saveChain(chainPath, CHAIN)
const storePath = join(dir, "store")
const child = join(import.meta.dirname, "../../fixtures/executor/executorNode.ts")

interface RunResult {
  readonly syncedAtStart: number
  readonly executedAtStart: number
  /** Highest `executed h` printed: its write was durable before the line, so it must survive. */
  readonly acked: number
  readonly finished: boolean
  readonly signal: NodeJS.Signals | null
}

/** Runs the child (storing `headStart` commits before its executor starts); kills it once it reports executing `killAt` (plus a random delay), or never. */
const runChild = (headStart: number, killAt: (executedAtStart: number) => number | undefined): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, chainPath, storePath, JSON.stringify(CONFIG), String(BALANCE), String(headStart)], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let syncedAtStart = -1
    let executedAtStart = -1
    let acked = -1
    let target: number | undefined
    let killing = false
    let finished = false
    let pending = ""
    let stderr = ""
    proc.stdout.setEncoding("utf8")
    proc.stdout.on("data", (chunk: string) => {
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) {
        const [word, a, b] = line.split(" ")
        if (word === "ready") {
          syncedAtStart = Number(a)
          executedAtStart = Number(b)
          acked = executedAtStart
          target = killAt(executedAtStart)
        } else if (word === "executed") acked = Math.max(acked, Number(a))
        else if (word === "done") finished = true
        if (target !== undefined && !killing && acked >= target) {
          killing = true
          setTimeout(() => proc.kill("SIGKILL"), Math.floor(Math.random() * (MAX_EXTRA_DELAY_MS + 1)))
        }
      }
    })
    proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const stuck = setTimeout(() => {
      reject(new Error(`child stuck at executed ${acked}: ${stderr}`))
      proc.kill("SIGKILL")
    }, CHILD_TIMEOUT_MS)
    proc.on("error", reject)
    proc.on("exit", (code, signal) => {
      clearTimeout(stuck)
      if (executedAtStart < 0 || (signal === null && code !== 0)) reject(new Error(`child exited (code ${code}, signal ${signal}): ${stderr}`))
      else resolve({ syncedAtStart, executedAtStart, acked, finished, signal })
    })
  })

/** Reopens the store and checks that it holds exactly the execution of commits 1..w; returns w. */
const checkExactlyOnce = (acked: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    const held = yield* expectStoreHolds(store, GENESIS, SUBDAGS)
    const { highestSyncedCommit } = yield* store.watermarks
    expect(held.w).toBeGreaterThanOrEqual(acked)
    expect(held.w).toBeLessThanOrEqual(highestSyncedCommit)
    return { ...held, synced: highestSyncedCommit }
  }).pipe(Effect.provide(LmdbStoreLayer(storePath)))

describe("CommitExecutor under kill -9", () => {
  it.effect(`executes every transaction exactly once across ${KILLS} SIGKILLs at random moments, then finishes`, () =>
    Effect.gen(function* () {
      const whole = fold(GENESIS, SUBDAGS)
      // The chain exercises duplicates, failures and epoch changes, or the test proves little.
      expect(COPIES).toBeGreaterThan(0)
      expect(whole.failed).toBeGreaterThan(0)
      expect(whole.epoch).toBeGreaterThanOrEqual(4)
      const log: Array<string> = []
      let executed = 0
      const targets = Array.from({ length: KILLS }, (_, k) => 1 + Math.floor(((k + Math.random()) * KILL_SPAN) / KILLS))
      for (let run = 0; run < KILLS; run++) {
        const aim = (start: number) => Math.max(targets[run] as number, start + 1)
        // Alternately the executor follows live commits (one write each) and starts behind and catches
        // up from the store (many commits per write).
        const headStart = run % 2 === 0 ? 0 : HEAD_START
        const result = yield* Effect.promise(() => runChild(headStart, aim))
        expect(result.executedAtStart).toBe(executed)
        expect(result.signal).toBe("SIGKILL")
        expect(result.finished).toBe(false)
        const after = yield* checkExactlyOnce(result.acked)
        expect(result.syncedAtStart).toBeGreaterThanOrEqual(result.executedAtStart)
        log.push(`${headStart === 0 ? "live    " : "catch-up"}: resumed at ${result.executedAtStart} (synced ${result.syncedAtStart}), acked ${result.acked}, killed; reopened at ${after.w} of ${after.synced} synced (${after.executed} txs executed)`)
        executed = after.w
      }
      const last = yield* Effect.promise(() => runChild(0, () => undefined))
      expect(last.finished).toBe(true)
      const final = yield* checkExactlyOnce(COMMITS)
      expect(final.w).toBe(COMMITS)
      expect(final.executed).toBe(whole.executed.length)
      console.log(
        `executor restart (${COMMITS} commits, ${whole.executed.length} txs, ${whole.duplicates} repeats, ${whole.failed} failed):\n  ${log.join("\n  ")}\n  final run from ${last.executedAtStart} to ${final.w}`
      )
      expect(executed).toBeGreaterThan(0)
    }))
})
