/**
 * The adversary benchmark (issue #11 part E): attacks a real node and measures whether honest peers
 * are still served.
 *
 * - The victim (`adversary/victim.ts`) is a full node as shipped, in its own process: `P2pBuilder`
 *   wiring (gRPC + mutual TLS, LMDB, the P2P server's limits, PeerManager, discovery, sync), holding a
 *   generated chain (read from the on-disk chain cache). It prints its RSS and event-loop delay every
 *   200 ms.
 * - The honest client (`adversary/honestClient.ts`, in this process) polls GetCommitAvailability every
 *   100 ms and fetches commits and blocks in a loop, recording latency and success of every call.
 * - Each attack runs in its own attacker process (`src/testkit/adversary/attacker.ts`, fresh keys),
 *   one at a time, for `seconds` from the moment the attacker reports it is under way, then a settle.
 *   First the same window with no attack: the reference.
 *
 * Per window: the honest client's p99 latency and success share, the victim's RSS growth (peak in the
 * window minus the RSS before it) and longest event-loop delay, whether the victim still runs and
 * answers the honest client after the settle, the attacker's own counters (proof the attack ran), and
 * the machine's CPU in cores (on a shared 2-core machine, latencies are only comparable to the
 * reference of the same run).
 * A victim that dies is started again (same identity and address, a fresh store) for the next attack.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { availableParallelism, cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { toHex } from "../../domain/bytes.js"
import { encodeBcs } from "../../domain/codec.js"
import { BlockRefBcs } from "../../domain/refs.js"
import { ATTACK_NAMES, type AttackName, type AttackPlan } from "../../testkit/adversary/attack.js"
import { FORGED_EXTRA_COMMITS } from "../../testkit/adversary/attacks/forgedCertifiers.js"
import { ChainGenerator, type ChainConfig } from "../../testkit/chain.js"
import { cachedCommits } from "../../testkit/chainCache.js"
import type { NodeConfig } from "../node/NodeConfig.js"
import { JsonLineProcess } from "./adversary/childProcess.js"
import { HonestClient, type HonestWindow, type HonestWorkload } from "./adversary/honestClient.js"
import { VictimNode, type VictimWindow } from "./adversary/victimNode.js"
import { freePort } from "../../testkit/ports.js"

/** Options of `runAdversaryBench`. */
export interface AdversaryBenchOptions {
  /** Attacks to run, in the bench's order (default all). */
  readonly attacks?: ReadonlyArray<AttackName>
  /** Length of each attack window and of the reference (default 10 s). */
  readonly seconds?: number
  /** Pause after each attack before the next, and the window in which the victim must answer again (default 3 s). */
  readonly settleSeconds?: number
  /** Commits the victim holds (default 200). */
  readonly commits?: number
  /** Scale of each attack (1 = full; smaller for smoke tests). */
  readonly scale?: number
  /** Keep the temp dir (victim stores, logs of the victim and the attackers). */
  readonly keep?: boolean
  /** Progress lines on stderr. */
  readonly onProgress?: (line: string) => void
}

/** One window's figures (the reference or an attack). */
export interface AdversaryWindow {
  readonly attack: AttackName | "none"
  /** 99th percentile latency of the honest calls started in the window (all three methods; failures at the time they failed). */
  readonly honestP99Ms: number | null
  /** Share of those calls that succeeded (a call still in flight after the settle counts as failed). */
  readonly honestSuccess: number | null
  /** The victim's peak RSS in the window minus its RSS just before. */
  readonly victimRssGrowthMB: number | null
  /** The victim's longest event-loop delay in the window. */
  readonly eventLoopMaxMs: number | null
  readonly honestP50Ms: number | null
  readonly honestCalls: number
  /** The honest client's failures by reason (error tag and reason or status). */
  readonly honestFailures: Readonly<Record<string, number>>
  readonly victimPeakRssMB: number | null
  /** The victim process still ran after the window and settle, and answered the honest client in the settle. */
  readonly victimAliveAfter: boolean
  /** The honest client's success share during the settle after the attack. */
  readonly honestSuccessAfter: number | null
  readonly victimSyncedCommit: number | null
  readonly victimBannedPeers: number | null
  /** CPU of the whole machine during the window, in cores (victim, attacker, honest client and everything else running). */
  readonly machineBusyCores: number
  /** The attacker's counters at the end (calls by status, connections held, …); why it could not run, if so. */
  readonly attacker: Readonly<Record<string, number>> | null
  readonly attackerError?: string
}

/** What `runAdversaryBench` reports. */
export interface AdversaryBenchResult {
  readonly reference: AdversaryWindow
  readonly attacks: ReadonlyArray<AdversaryWindow>
  readonly worstHonestP99Ms: number | null
  readonly worstHonestSuccess: number | null
  readonly worstRssGrowthMB: number | null
  readonly worstEventLoopMaxMs: number | null
  readonly seconds: number
  readonly commits: number
  readonly blocks: number
  readonly cores: number
}

const DEFAULT_SECONDS = 10
const DEFAULT_SETTLE_SECONDS = 3
const DEFAULT_COMMITS = 200
/**
 * The chain: 4 validators, 50 certified transactions per block (so that a request naming one block
 * 1,000 times asks for megabytes), one epoch whatever its length (so every length is a prefix of one
 * cached chain). Cached on disk after the first run.
 */
const CHAIN: ChainConfig = { seed: 11, validators: 4, transactionsPerBlock: 50, commitsPerEpoch: 1_000_000 }
/** Until the honest client's first calls have warmed up the victim's code paths and its memory has settled after loading the chain. */
const WARM_UP_MS = 5_000
/** An attacker has this long to start (tsx, keys, its chain) and report that it attacks. */
const ATTACKER_READY_TIMEOUT_MS = 90_000

const attackerScript = join(import.meta.dirname, "../../testkit/adversary/attacker.ts")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The honest client's work, the largest block's ref, and the block count, from the chain's first `commits` commits. */
const readChain = (config: ChainConfig, commits: number) => {
  const blockRefs: Array<Array<Uint8Array>> = []
  let largest: { size: number; ref: Uint8Array } = { size: -1, ref: new Uint8Array(0) }
  let blocks = 0
  // Reading past the victim's commits makes the cache hold what the forging attacker serves too.
  for (const c of cachedCommits(config, commits + FORGED_EXTRA_COMMITS)) {
    if (c.subDag.commitRef.index > commits) continue
    const refs = c.subDag.blocks.map((b) => encodeBcs(BlockRefBcs, b.ref))
    blockRefs.push(refs)
    blocks += refs.length
    for (const [i, b] of c.subDag.blocks.entries()) if (b.bytes.length > largest.size) largest = { size: b.bytes.length, ref: refs[i]! }
  }
  const workload: HonestWorkload = { commits, blockRefs }
  return { workload, largestBlockRef: toHex(largest.ref), blocks }
}

/** CPU time of every core of the machine, busy (ms). */
const machineBusyMs = (): number => cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)

const round = (value: number | null): number | null => (value === null ? null : Math.round(value * 100) / 100)

const windowOf = (
  attack: AttackName | "none",
  honest: HonestWindow,
  victim: VictimWindow,
  after: { readonly alive: boolean; readonly honest: HonestWindow },
  machineBusyCores: number,
  attacker: AdversaryWindow["attacker"],
  attackerError: string | undefined
): AdversaryWindow => ({
  attack,
  honestP99Ms: round(honest.p99Ms),
  honestSuccess: honest.success === null ? null : Math.round(honest.success * 10_000) / 10_000,
  victimRssGrowthMB: round(victim.rssGrowthMB),
  eventLoopMaxMs: round(victim.eventLoopMaxMs),
  honestP50Ms: round(honest.p50Ms),
  honestCalls: honest.calls,
  honestFailures: honest.failures,
  victimPeakRssMB: round(victim.peakRssMB),
  victimAliveAfter: after.alive && (after.honest.success ?? 0) > 0,
  honestSuccessAfter: after.honest.success === null ? null : Math.round(after.honest.success * 10_000) / 10_000,
  victimSyncedCommit: victim.syncedCommit,
  victimBannedPeers: victim.bannedPeers,
  machineBusyCores: Math.round(machineBusyCores * 100) / 100,
  attacker,
  ...(attackerError !== undefined ? { attackerError } : {})
})

/** Runs the benchmark. */
export const runAdversaryBench = async (options: AdversaryBenchOptions = {}): Promise<AdversaryBenchResult> => {
  const seconds = options.seconds ?? DEFAULT_SECONDS
  const settleMs = (options.settleSeconds ?? DEFAULT_SETTLE_SECONDS) * 1000
  const commits = options.commits ?? DEFAULT_COMMITS
  const scale = options.scale ?? 1
  const attacks = options.attacks ?? ATTACK_NAMES
  const progress = options.onProgress ?? (() => {})
  if (!(seconds > 0)) throw new RangeError(`--seconds must be positive, got ${seconds}`)
  if (!Number.isInteger(commits) || commits < 1) throw new RangeError(`--commits must be a positive integer, got ${commits}`)
  const windowMs = seconds * 1000

  const chain = CHAIN
  progress(`adversary: reading the chain (${commits} commits; generated on the first run)`)
  const { workload, largestBlockRef, blocks } = readChain(chain, commits)

  const dir = mkdtempSync(join(tmpdir(), "soma-adversary-bench-"))
  const port = await freePort()
  const generator = new ChainGenerator(chain)
  const networkKey = toHex(new Uint8Array(randomBytes(32)))
  const victimConfig = (incarnation: number): NodeConfig => ({
    name: "victim",
    role: "FullNode",
    networkKey,
    listenAddress: `127.0.0.1:${port}`,
    seedPeers: [],
    allowlistedPeers: [],
    storagePath: join(dir, `victim-store-${incarnation}`),
    genesisCommittee: generator.committee(0),
    genesisBalances: [],
    plaintext: false,
    logLevel: "warning",
    discovery: {},
    sync: {},
    limits: {}
  })
  let incarnation = 0
  const startVictim = () => VictimNode.start({ dir, name: `victim-${++incarnation}`, config: victimConfig(incarnation), chain, commits })

  let victim = await startVictim()
  const honest = new HonestClient({ address: victim.address, peerId: victim.peerId }, workload)
  try {
    progress(`adversary: victim ${victim.peerId.slice(0, 8)} serves ${commits} commits at ${victim.address}`)
    await honest.start()
    await sleep(WARM_UP_MS)

    /** Runs one window: the attack (or none) for `seconds`, then the settle. */
    const measure = async (attack: AttackName | "none"): Promise<AdversaryWindow> => {
      let attacker: JsonLineProcess | undefined
      let attackerError: string | undefined
      let counters: Record<string, number> | null = null
      if (attack !== "none") {
        const plan: AttackPlan = { attack, victim: { address: victim.address, peerId: victim.peerId }, chain: { config: chain, commits }, largestBlockRef, scale }
        attacker = new JsonLineProcess(`attacker ${attack}`, attackerScript, [JSON.stringify(plan)], join(dir, `attacker-${attack}.log`), (event) => {
          if (event.event === "progress" || event.event === "done") counters = event["counters"] as Record<string, number>
        })
        try {
          await attacker.waitFor("ready", ATTACKER_READY_TIMEOUT_MS)
        } catch (error) {
          attackerError = error instanceof Error ? error.message : String(error)
        }
      }
      const from = Date.now()
      const busyBegin = machineBusyMs()
      progress(`adversary: ${attack === "none" ? "reference (no attack)" : `attack ${attack}`} for ${seconds} s`)
      await sleep(windowMs)
      const to = Date.now()
      const machineBusyCores = (machineBusyMs() - busyBegin) / (to - from)
      if (attacker !== undefined) {
        const how = await attacker.stop("SIGTERM", 5_000)
        if (how !== "code 0" && attackerError === undefined) attackerError = `attacker exited (${how}): ${attacker.stderrTail(3)}`
      }
      await sleep(settleMs)
      const settled = Date.now()
      const result = windowOf(
        attack,
        honest.window(from, to),
        victim.window(from, to),
        { alive: victim.running, honest: honest.window(to + settleMs / 2, settled, true) },
        machineBusyCores,
        counters,
        attackerError
      )
      progress(`adversary:   ${JSON.stringify(result)}`)
      if (!victim.running) {
        progress(`adversary: the victim died (${await victim.process.exited}): ${victim.process.stderrTail(5)}; starting it again`)
        victim = await startVictim()
        await sleep(WARM_UP_MS)
      }
      return result
    }

    const reference = await measure("none")
    const results: Array<AdversaryWindow> = []
    for (const attack of attacks) results.push(await measure(attack))
    const worst = (pick: (w: AdversaryWindow) => number | null, better: "low" | "high") => {
      const values = results.map(pick).filter((v): v is number => v !== null)
      if (values.length === 0) return null
      return better === "low" ? Math.max(...values) : Math.min(...values)
    }
    return {
      reference,
      attacks: results,
      worstHonestP99Ms: worst((w) => w.honestP99Ms, "low"),
      // An attack during which no honest call even started served nobody.
      worstHonestSuccess: worst((w) => w.honestSuccess ?? 0, "high"),
      worstRssGrowthMB: worst((w) => w.victimRssGrowthMB, "low"),
      worstEventLoopMaxMs: worst((w) => w.eventLoopMaxMs, "low"),
      seconds,
      commits,
      blocks,
      cores: availableParallelism()
    }
  } finally {
    await honest.stop().catch(() => undefined)
    await victim.stop().catch(() => undefined)
    if (options.keep === true) progress(`adversary: kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}
