/**
 * A chaos scenario as data: the network (validators, full nodes, the emulated links between them), the
 * load (commits, rate, transactions per block), and the faults — how many of each and how long each
 * lasts. `planFaults` turns a scenario into its fault plan: which node each fault hits and at which
 * commit it starts, drawn from the scenario's seed, so a failing run is replayed by its seed alone.
 * Pure: no process, socket or clock is touched here (cluster.ts and runChaos.ts do that).
 */
import { Data } from "effect"
import type { LinkConditions } from "../link/link.js"
import { SeededRandom } from "../rng.js"

/** How many faults of each kind a run injects. */
export interface FaultCounts {
  /** A full node cut from every validator but one (and from the other full nodes) for `partitionMs`. */
  readonly partitions: number
  /** Every link of one validator turned into a `slowLink` for its duration. */
  readonly slowLinks: number
  /** SIGKILLs of one full node (the same one each time), each followed by a restart. */
  readonly fullNodeKills: number
  /** SIGKILLs of a validator (never two down at once), each followed by a restart. */
  readonly validatorKills: number
}

/** What a slow link is while it lasts. */
export interface SlowLink extends LinkConditions {
  readonly durationMs: number
}

/** Everything a chaos run does. */
export interface ChaosScenario {
  /** Seeds the chain, the link delays and the fault plan. */
  readonly seed: number
  readonly validators: number
  readonly fullnodes: number
  /** The validators produce this many commits, then stop; every node must end with all of them. */
  readonly commits: number
  /** Commits per second each validator produces (fewer when the machine is too busy to keep up). */
  readonly rate: number
  readonly transactionsPerBlock: number
  readonly commitsPerEpoch: number
  /** One-way delay of each link, drawn per link uniformly in [min, max]. */
  readonly linkDelayMs: readonly [number, number]
  readonly linkBandwidthBitsPerSec: number
  /**
   * Also route validator↔validator connections through links (by default they dial each other directly
   * on loopback: the faults are about full nodes syncing, and each link is one more process).
   */
  readonly linkValidatorPairs: boolean
  readonly faults: FaultCounts
  readonly partitionMs: number
  readonly slowLink: SlowLink
  /** How long a killed full node stays down before its restart, drawn in [min, max]. */
  readonly fullNodeDownMs: readonly [number, number]
  /** How long a killed validator stays down before its restart, drawn in [min, max]. */
  readonly validatorDownMs: readonly [number, number]
  /** Faults start at commits drawn in [min, max] × `commits`. */
  readonly faultWindow: readonly [number, number]
  /** The whole run (start, faults, catch-up) fails if it takes longer than this. */
  readonly timeoutMs: number
}

/**
 * The scenario of the issue "Sync under real network conditions": 4 validators and 2 full nodes on WAN
 * links (25–50 ms one way, 100 Mbit/s); one 10 s partition, one validator's links at 30 s latency, a
 * full node killed twice and a validator killed once, each restarted.
 */
export const defaultScenario: ChaosScenario = {
  seed: 1,
  validators: 4,
  fullnodes: 2,
  commits: 150,
  rate: 10,
  transactionsPerBlock: 4,
  commitsPerEpoch: 80,
  linkDelayMs: [25, 50],
  linkBandwidthBitsPerSec: 100_000_000,
  linkValidatorPairs: false,
  faults: { partitions: 1, slowLinks: 1, fullNodeKills: 2, validatorKills: 1 },
  partitionMs: 10_000,
  // The cap bounds what the relay may hold: twice the bandwidth-delay product, 15 MB at 1 Mbit/s
  // and a 60 s round trip (at 100 Mbit/s it would be 1.5 GB).
  slowLink: { oneWayDelayMs: 30_000, bandwidthBitsPerSec: 1_000_000, durationMs: 15_000 },
  fullNodeDownMs: [500, 3_000],
  validatorDownMs: [1_000, 4_000],
  faultWindow: [0.1, 0.6],
  timeoutMs: 240_000
}

/** The name a devnet node has (layout.ts): `validator-i` or `fullnode-j`. */
export const validatorName = (i: number): string => `validator-${i}`
export const fullNodeName = (j: number): string => `fullnode-${j}`

/** One fault: what it does to whom, and for how long. */
export type Fault = Data.TaggedEnum<{
  /** Cut every link between `fullnode` and any node but `keeps`, both directions; heal after `durationMs`. */
  Partition: { readonly fullnode: string; readonly keeps: string; readonly durationMs: number }
  /** Every link of `validator`, both directions, gets `conditions`; restored after `durationMs`. */
  SlowLink: { readonly validator: string; readonly conditions: LinkConditions; readonly durationMs: number }
  /** SIGKILL `node`; start it again (same store) after `downMs`. */
  Kill: { readonly node: string; readonly role: "Validator" | "FullNode"; readonly downMs: number }
}>

/** Constructors and matchers of `Fault`. */
export const Fault = Data.taggedEnum<Fault>()

/** A fault and the commit (the validators' height) at which it starts. */
export interface PlannedFault {
  readonly atCommit: number
  readonly fault: Fault
}

const between = (rng: SeededRandom, [min, max]: readonly [number, number]): number => min + rng.nextInt(max - min + 1)

/** The faults of a scenario, in the order they start; the same scenario always gives the same plan. */
export const planFaults = (scenario: ChaosScenario): ReadonlyArray<PlannedFault> => {
  const rng = new SeededRandom(scenario.seed ^ 0x5eed_c4a0)
  const { commits, faults } = scenario
  const window: [number, number] = [Math.max(1, Math.floor(scenario.faultWindow[0] * commits)), Math.max(1, Math.floor(scenario.faultWindow[1] * commits))]
  const planned: Array<PlannedFault> = []
  for (let i = 0; i < faults.partitions; i++) {
    const fault = Fault.Partition({
      fullnode: fullNodeName(rng.nextInt(scenario.fullnodes)),
      keeps: validatorName(rng.nextInt(scenario.validators)),
      durationMs: scenario.partitionMs
    })
    planned.push({ atCommit: between(rng, window), fault })
  }
  for (let i = 0; i < faults.slowLinks; i++) {
    const { durationMs, ...conditions } = scenario.slowLink
    planned.push({ atCommit: between(rng, window), fault: Fault.SlowLink({ validator: validatorName(rng.nextInt(scenario.validators)), conditions, durationMs }) })
  }
  const victim = fullNodeName(rng.nextInt(scenario.fullnodes))
  for (let i = 0; i < faults.fullNodeKills; i++) {
    planned.push({ atCommit: between(rng, window), fault: Fault.Kill({ node: victim, role: "FullNode", downMs: between(rng, scenario.fullNodeDownMs) }) })
  }
  for (let i = 0; i < faults.validatorKills; i++) {
    const node = validatorName(rng.nextInt(scenario.validators))
    planned.push({ atCommit: between(rng, window), fault: Fault.Kill({ node, role: "Validator", downMs: between(rng, scenario.validatorDownMs) }) })
  }
  // Stable: faults planned at the same commit keep the order above.
  return planned.map((p, i) => ({ p, i })).sort((a, b) => a.p.atCommit - b.p.atCommit || a.i - b.i).map(({ p }) => p)
}

/** One line per fault, e.g. `at commit 42: partition fullnode-1 (keeps validator-3) for 10 s`. */
export const describeFault = (fault: Fault): string =>
  Fault.$match(fault, {
    Partition: (f) => `partition ${f.fullnode} from all but ${f.keeps} for ${f.durationMs / 1000} s`,
    SlowLink: (f) =>
      `links of ${f.validator} at ${f.conditions.oneWayDelayMs / 1000} s one way${f.conditions.bandwidthBitsPerSec !== undefined ? `, ${f.conditions.bandwidthBitsPerSec / 1e6} Mbit/s` : ""} for ${f.durationMs / 1000} s`,
    Kill: (f) => `SIGKILL ${f.node}, restart after ${(f.downMs / 1000).toFixed(1)} s`
  })
