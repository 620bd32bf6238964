/**
 * Block-decode throughput for the crypto benchmark's `blockDecodePerSec`: how many canonical
 * `SignedBlock`s per second the main thread turns from bytes into values with their digest (decode +
 * Blake2b-256), on the sync benchmark's block shape — 10 validators, 10 certified transactions per block.
 */
import { Either } from "effect"
import { decodeSignedBlock } from "../../domain/block.js"
import { blake2b256 } from "../../domain/hash.js"
import { ChainGenerator } from "../../testkit/chain.js"

const SAMPLE_COMMITS = 12
const RUN_MS = 1_000
const RUNS = 3

/** Median blocks decoded (and hashed) per second over three one-second runs. */
export const measureBlockDecodePerSec = async (): Promise<number | null> => {
  const blocks: Array<Uint8Array> = []
  for (const c of new ChainGenerator({ seed: 1, validators: 10, commitsPerEpoch: 1_000, transactionsPerBlock: 10 }).take(SAMPLE_COMMITS))
    for (const b of c.subDag.blocks) blocks.push(b.bytes)
  const rates: Array<number> = []
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now()
    let decoded = 0
    while (performance.now() - start < RUN_MS) {
      for (const bytes of blocks) {
        if (Either.isLeft(decodeSignedBlock(bytes))) throw new Error("a generated block does not decode")
        blake2b256(bytes)
        decoded++
      }
    }
    rates.push(decoded / ((performance.now() - start) / 1000))
  }
  rates.sort((a, b) => a - b)
  return Math.round(rates[Math.floor(RUNS / 2)] as number)
}
