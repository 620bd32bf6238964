/**
 * The discovery benchmark's Sybil scenario at the size `npm test` affords (40 nodes, 4 of them
 * attackers that vouch for each other, answer with each other first — real peers, so their early
 * introductions connect and earn credibility — and then with minted identities): the honest nodes
 * still learn each other and their connections within a few rounds, nobody is eclipsed, and what
 * minted identities slip in while a liar is credible are dropped when a feeler finds one of them.
 * The 1,000-node figures come from `npm run bench -- discovery --nodes 1000 --sybil 0.1`.
 */
import { describe, expect, it } from "@effect/vitest"
import { runDiscoveryBench } from "../../src/programs/bench/discovery.js"

describe("discovery bench with 10 % Sybil attackers", () => {
  it("converges, eclipses nobody, and leaves no minted identity in an honest table", async () => {
    const result = await runDiscoveryBench({ nodes: 40, sybil: 0.1, maxTicks: 15 })
    expect(result.sybils).toBe(4)
    expect(result.ticksToConverge).toBeGreaterThan(0)
    expect(result.ticksToConverge).toBeLessThanOrEqual(10)
    expect(result.eclipsed).toBe(0)
    expect(result.maxFakesInTable).toBe(0)
    // The 35 other honest nodes and at most the 4 attackers themselves (real, reachable nodes).
    expect(result.honestShareTable).toBeGreaterThanOrEqual(35 / 39)
    // What a node serves: no minted identity (above), at most the 4 attackers, and every honest peer but
    // possibly one it cannot serve at that moment (a feeler's dial to it failed and it is not reached
    // again yet): 34 / 38 (seen once in a clean-clone run with four feelers per round).
    expect(result.honestShareServed).toBeGreaterThanOrEqual(34 / 38)
    // Not counting the attacker nodes, every entry held or served is honest: no minted identity anywhere.
    expect(result.honestShareWithoutAttackerNodes).toBe(1)
  }, 120_000)
})
