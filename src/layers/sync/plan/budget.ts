/**
 * The plan's block budget in bytes: how many encoded bytes a block takes, learned from the blocks
 * verified, and the number of blocks that the byte budget allows at that size. Blocks are still what
 * the plan counts (a range's blocks are known by ref before their bytes arrive); the byte budget only
 * lowers the count when blocks are large.
 */
import type { VerifiedBlock } from "../../../domain/block.js"
import { BLOCK_BYTES_MEAN_WINDOW } from "../constants.js"
import type { SyncPlan, SyncPlanConfig } from "./types.js"

/**
 * The plan with its bytes per block moved towards the mean size of `blocks`, by their share of
 * `BLOCK_BYTES_MEAN_WINDOW` (the first blocks seen set it outright): a few chunks follow a change of
 * block size, and one odd block (an end-of-epoch block carries the next committee) barely moves it.
 */
export const learnBlockBytes = (plan: SyncPlan, blocks: ReadonlyArray<VerifiedBlock>): SyncPlan => {
  if (blocks.length === 0) return plan
  const mean = blocks.reduce((n, b) => n + b.bytes.length, 0) / blocks.length
  const weight = plan.bytesPerBlock === 0 ? 1 : Math.min(1, blocks.length / BLOCK_BYTES_MEAN_WINDOW)
  return { ...plan, bytesPerBlock: plan.bytesPerBlock + (mean - plan.bytesPerBlock) * weight }
}

/** Blocks the plan may hold: `maxBlocksHeld`, or fewer when that many blocks of the learned size pass `maxBlockBytesHeld`. */
export const blockBudget = (plan: SyncPlan, config: SyncPlanConfig): number =>
  config.maxBlockBytesHeld === undefined || plan.bytesPerBlock <= 0
    ? config.maxBlocksHeld
    : Math.min(config.maxBlocksHeld, Math.floor(config.maxBlockBytesHeld / plan.bytesPerBlock))
