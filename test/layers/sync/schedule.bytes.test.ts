import { describe, expect, it } from "@effect/vitest"
import type { VerifiedBlock } from "../../../src/domain/block.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { ChainGenerator } from "../../../src/testkit/chain.js"
import { BLOCK_BYTES_MEAN_WINDOW } from "../../../src/layers/sync/constants.js"
import { blockBudget, learnBlockBytes } from "../../../src/layers/sync/plan/budget.js"
import { onPeerHeights } from "../../../src/layers/sync/plan/peers.js"
import { onBlocksOutcome } from "../../../src/layers/sync/plan/ranges.js"
import { schedule } from "../../../src/layers/sync/plan/schedule.js"
import { defaultSyncPlanConfig, initialPlan, type SyncPlan, type SyncPlanConfig } from "../../../src/layers/sync/plan/types.js"

const peer = (n: number) => n.toString(16).padStart(64, "0") as PeerId
const sizes = (plan: SyncPlan) => plan.ranges.map((r) => r.end - r.start + 1)
const MIB = 1024 * 1024
const config: SyncPlanConfig = { window: 8, blockChunksInFlight: 6, maxRequestsPerPeer: 100, maxBlocksHeld: 1_500, maxBlockBytesHeld: 8 * MIB }
/** A plan behind a peer at 10,000 that has learned commits of `perCommit` blocks of `bytesPerBlock` bytes. */
const learned = (perCommit: number, bytesPerBlock: number): SyncPlan =>
  onPeerHeights({ ...initialPlan(0, 0), blocksPerCommit: perCommit, bytesPerBlock }, peer(1), 10_000, 0, 0)

const blocks: ReadonlyArray<VerifiedBlock> = new ChainGenerator({ seed: 5, validators: 4, commitsPerEpoch: 50, transactionsPerBlock: 3 })
  .take(6)
  .flatMap((c) => c.subDag.blocks)
const meanBytes = (bs: ReadonlyArray<VerifiedBlock>) => bs.reduce((n, b) => n + b.bytes.length, 0) / bs.length

describe("the block budget counts bytes", () => {
  it("blocks of 100 validators (≈ 7.5 KB) open fewer, smaller ranges than the block count allows", () => {
    // 8 MiB ÷ 7,500 B = 1,118 blocks: ranges of 3 commits (≈ 300 blocks), three of them.
    expect(sizes(schedule(learned(100, 7_500), 0, config, 100).plan)).toEqual([3, 3, 3])
    // Counted only (the byte budget removed): 1,500 blocks, ranges of 5 commits.
    const { maxBlockBytesHeld: _, ...countOnly } = config
    expect(sizes(schedule(learned(100, 7_500), 0, countOnly, 100).plan)).toEqual([5, 5, 5])
  })

  it("small blocks (10 validators, ≈ 3 KB) are held up to the block count, as before", () => {
    expect(sizes(schedule(learned(10, 3_000), 0, config, 10).plan)).toEqual([50, 50, 50])
  })

  it("the node's defaults bound blocks of 100 validators by bytes", () => {
    const plan = learned(100, 7_500)
    expect(blockBudget(plan, defaultSyncPlanConfig) * 7_500).toBeLessThanOrEqual(defaultSyncPlanConfig.maxBlockBytesHeld ?? Number.POSITIVE_INFINITY)
    expect(blockBudget(plan, defaultSyncPlanConfig)).toBeLessThan(defaultSyncPlanConfig.maxBlocksHeld)
  })

  it("before any block is seen, blocks are only counted", () => {
    expect(blockBudget(initialPlan(0, 0), config)).toBe(1_500)
  })
})

describe("bytes per block are learned from the blocks verified", () => {
  it("the first blocks set it; later ones move it by their share of the window", () => {
    const first = learnBlockBytes(initialPlan(0, 0), blocks)
    expect(first.bytesPerBlock).toBeCloseTo(meanBytes(blocks))
    const one = blocks[0]!
    const moved = learnBlockBytes({ ...first, bytesPerBlock: 100_000 }, [one])
    expect(moved.bytesPerBlock).toBeCloseTo(100_000 + (one.bytes.length - 100_000) / BLOCK_BYTES_MEAN_WINDOW)
    expect(learnBlockBytes(first, [])).toBe(first)
  })

  it("a chunk's verified blocks teach the plan, even from a chunk it no longer waits for", () => {
    const plan = learned(4, 0)
    const after = onBlocksOutcome(plan, 99, 1, peer(1), { blocks }, 0)
    expect(after.bytesPerBlock).toBeCloseTo(meanBytes(blocks))
  })
})
