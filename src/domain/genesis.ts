/**
 * Genesis blocks: every epoch's DAG starts from one round-0 block per authority, derived from the
 * committee alone (no signature), so every node computes the same genesis refs and a round-1 block's
 * ancestors can be checked without fetching anything.
 */
import { blockRefOf, encodeSignedBlock, type Block } from "./block.js"
import type { Committee } from "./committee.js"
import type { BlockRef } from "./refs.js"

const GENESIS_SIGNATURE = new Uint8Array(64)

/** The genesis block of `author` in the committee's epoch. */
export const genesisBlock = (committee: Committee, author: number): Block => ({
  epoch: committee.epoch,
  round: 0,
  author,
  timestampMs: 0,
  ancestors: [],
  transactions: [],
  commitVotes: [],
  endOfEpoch: null
})

/** The genesis refs of an epoch, by author index. */
export const genesisBlockRefs = (committee: Committee): ReadonlyArray<BlockRef> =>
  committee.authorities.map((_, author) => {
    const block = genesisBlock(committee, author)
    return blockRefOf(block, encodeSignedBlock({ block, signature: GENESIS_SIGNATURE }))
  })
