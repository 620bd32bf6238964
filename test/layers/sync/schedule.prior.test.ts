import { describe, expect, it } from "@effect/vitest"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { onPeerHeights } from "../../../src/layers/sync/plan/peers.js"
import { blocksPerCommitEstimate, schedule } from "../../../src/layers/sync/plan/schedule.js"
import { initialPlan, type SyncPlanConfig } from "../../../src/layers/sync/plan/types.js"

const peer = (n: number) => n.toString(16).padStart(64, "0") as PeerId
const config: SyncPlanConfig = { window: 8, blockChunksInFlight: 6, maxRequestsPerPeer: 100, maxBlocksHeld: 1_500 }
const sizes = (ranges: ReadonlyArray<{ readonly start: number; readonly end: number }>) => ranges.map((r) => r.end - r.start + 1)

describe("the first ranges are sized from the committee", () => {
  it("at 100 validators the first ranges hold about the block budget, three of them, not one range of 100 commits", () => {
    const plan = onPeerHeights(initialPlan(0, 0), peer(1), 10_000, 0, 0)
    const { plan: after } = schedule(plan, 0, config, 100)
    expect(sizes(after.ranges)).toEqual([5, 5, 5])
    // Without the prior (size unknown) a single range of 100 commits opens: ≈ 10,000 blocks at 100 validators.
    expect(sizes(schedule(plan, 0, config).plan.ranges)).toEqual([100])
  })

  it("a first commit of one block does not teach the plan that commits hold one block", () => {
    // Commit 1 of a chain (or the first of an epoch) lists one block: learned alone, the whole window
    // opens in ranges of 100 commits (80,000 blocks at 100 validators, counted as 800).
    const plan = onPeerHeights({ ...initialPlan(0, 0), blocksPerCommit: 1 }, peer(1), 10_000, 0, 0)
    expect(sizes(schedule(plan, 0, config).plan.ranges)).toEqual(Array(8).fill(100))
    expect(sizes(schedule(plan, 0, config, 100).plan.ranges)).toEqual([5, 5, 5])
  })

  it("commits seen larger than the committee still size the ranges", () => {
    const plan = onPeerHeights({ ...initialPlan(0, 0), blocksPerCommit: 250 }, peer(1), 10_000, 0, 0)
    expect(sizes(schedule(plan, 0, config, 100).plan.ranges)).toEqual([2, 2, 2])
  })

  it("at 10 validators ranges are 50 commits, within the window and the budget", () => {
    const plan = onPeerHeights(initialPlan(0, 0), peer(1), 10_000, 0, 0)
    const { plan: after } = schedule(plan, 0, config, 10)
    expect(sizes(after.ranges)).toEqual([50, 50, 50])
    expect(after.ranges.reduce((n, r) => n + (r.end - r.start + 1) * 10, 0)).toBeLessThanOrEqual(config.maxBlocksHeld)
  })

  it("the estimate: the larger of what was seen and the committee; unknown while neither is", () => {
    expect(blocksPerCommitEstimate(initialPlan(0, 0), 0)).toBe(Number.POSITIVE_INFINITY)
    expect(blocksPerCommitEstimate(initialPlan(0, 0), 100)).toBe(100)
    expect(blocksPerCommitEstimate({ ...initialPlan(0, 0), blocksPerCommit: 3 }, 0)).toBe(3)
    expect(blocksPerCommitEstimate({ ...initialPlan(0, 0), blocksPerCommit: 3 }, 100)).toBe(100)
    expect(blocksPerCommitEstimate({ ...initialPlan(0, 0), blocksPerCommit: 140 }, 100)).toBe(140)
  })
})
