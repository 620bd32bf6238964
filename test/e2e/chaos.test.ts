/**
 * The chaos end-to-end test (issue "Sync under real network conditions"): 4 validators and 2 full nodes
 * as separate processes (gRPC + mutual TLS, LMDB, discovery, the reference executor), every connection
 * between a full node and another node through the link emulator (25–50 ms one way, 100 Mbit/s). While
 * the validators produce, one full node is partitioned from all but one validator for 10 s and healed,
 * one validator's links get 30 s of latency, one full node is SIGKILLed twice and a validator once, each
 * restarted on its store. At the end every node has executed every commit with the validators' state
 * digest, and no node banned or penalised another (all are honest).
 *
 * The seed (chain, link delays, fault plan) is `CHAOS_SEED` or 1; a failure prints the plan, the
 * timeline with every node's heights at each fault, and the last 30 log lines of each node, so a run is
 * replayed with `CHAOS_SEED=<seed> npx vitest run test/e2e` (add `CHAOS_KEEP=1 CHAOS_LOG_LEVEL=debug` to
 * keep every node's store and debug log). Longer runs: `npm run soak`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { formatReport, runChaos } from "../../src/testkit/chaos/runChaos.js"
import { defaultScenario, Fault, planFaults, type ChaosScenario } from "../../src/testkit/chaos/scenario.js"

const seed = Number(process.env["CHAOS_SEED"] ?? 1)
const scenario: ChaosScenario = { ...defaultScenario, seed }
/** `CHAOS_KEEP=1` keeps the run's stores, configs and logs; `CHAOS_LOG_LEVEL=debug` makes the nodes log more. */
const keep = process.env["CHAOS_KEEP"] === "1"
const logLevel = process.env["CHAOS_LOG_LEVEL"] === "debug" ? "debug" : "info"

describe("chaos: sync under real network conditions", () => {
  it("plans the issue's faults from the seed, the same way every time", () => {
    const plan = planFaults(scenario)
    expect(planFaults(scenario)).toEqual(plan)
    const count = (tag: Fault["_tag"], role?: string) => plan.filter((p) => p.fault._tag === tag && (role === undefined || (p.fault._tag === "Kill" && p.fault.role === role))).length
    expect([count("Partition"), count("SlowLink"), count("Kill", "FullNode"), count("Kill", "Validator")]).toEqual([1, 1, 2, 1])
    // The same full node is killed twice.
    expect(new Set(plan.flatMap((p) => (p.fault._tag === "Kill" && p.fault.role === "FullNode" ? [p.fault.node] : []))).size).toBe(1)
    for (const p of plan) {
      expect(p.atCommit).toBeGreaterThanOrEqual(scenario.faultWindow[0] * scenario.commits)
      expect(p.atCommit).toBeLessThanOrEqual(scenario.faultWindow[1] * scenario.commits)
    }
    expect(planFaults({ ...scenario, seed: seed + 1 })).not.toEqual(plan)
  })

  it.live(
    `every full node executes every commit with the validators' state, through a partition, a 30 s link and SIGKILLs (seed ${seed})`,
    () =>
      Effect.gen(function* () {
        const report = yield* runChaos(scenario, { keep, logLevel })
        const text = formatReport(report)
        console.log(text)
        expect(report.problems, text).toEqual([])
        // What a user would notice, spelled out: all nodes at the last commit with one state digest,
        // the killed nodes restarted, and nobody banned or penalised anybody.
        const digests = new Set(report.nodes.map((n) => n.stateDigest))
        expect(digests.size, text).toBe(1)
        for (const n of report.nodes) {
          expect(n.highestExecuted, `${n.name}\n${text}`).toBeGreaterThanOrEqual(scenario.commits)
          expect(Object.keys(n.offences), `${n.name}\n${text}`).toEqual([])
          expect(n.mostBannedPeers, `${n.name}\n${text}`).toBe(0)
        }
        const restarts = report.nodes.filter((n) => n.incarnations > 1).map((n) => [n.role, n.incarnations - 1])
        expect(restarts.sort(), text).toEqual([["FullNode", 2], ["Validator", 1]].sort())
        for (const tag of ["partition:", "partition healed", "slow links:", "slow links restored"]) {
          expect(report.timeline.some((e) => e.text.startsWith(tag)), `${tag}\n${text}`).toBe(true)
        }
      }),
    // runChaos gives up (and reports) after scenario.timeoutMs; teardown takes a few seconds more.
    defaultScenario.timeoutMs + 30_000
  )
})
