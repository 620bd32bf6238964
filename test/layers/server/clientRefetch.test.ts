/**
 * The client's side of the FetchBlocks answer cap: an honest server that stops its answer at 32 MiB
 * is asked again for the rest (and never looks like it withheld blocks), while a server that leaves
 * blocks out of a small answer still does. The server is the real `serveFetchBlocks` behind an
 * in-process `callStream`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Stream } from "effect"
import { decodeBcs } from "../../../src/domain/codec.js"
import { blake2b256 } from "../../../src/domain/hash.js"
import { BlockRefBcs, blockRefKey, type BlockRef } from "../../../src/domain/refs.js"
import { streamBlocks } from "../../../src/layers/sync/client.js"
import { serveFetchBlocks } from "../../../src/layers/sync/serveCommits.js"
import type { NetworkService } from "../../../src/services/Network.js"
import type { StoreError } from "../../../src/services/Store.js"
import { testPeerId } from "../network/fixtures.js"

const MiB = 1024 * 1024

/** Blocks of arbitrary bytes and their refs (the client matches blocks to refs by digest). */
const blocksOf = (sizes: ReadonlyArray<number>) =>
  sizes.map((size, i) => {
    const bytes = new Uint8Array(size).fill(i + 1)
    const ref: BlockRef = { round: 1, author: 0, epoch: 0, digest: blake2b256(bytes) }
    return { bytes, ref }
  })

/** A peer serving `blocks` (or only those `serves` keeps) through the real answer builder; counts its calls. */
const peerServing = (blocks: ReadonlyArray<{ readonly bytes: Uint8Array; readonly ref: BlockRef }>, serves: (ref: BlockRef) => boolean = () => true) => {
  const byKey = new Map(blocks.filter((b) => serves(b.ref)).map((b) => [blockRefKey(b.ref), b.bytes] as const))
  const store = {
    getBlockBytes: (refs: ReadonlyArray<BlockRef>): Effect.Effect<ReadonlyArray<Uint8Array>, StoreError> =>
      Effect.succeed(refs.flatMap((r) => (byKey.has(blockRefKey(r)) ? [byKey.get(blockRefKey(r)) as Uint8Array] : [])))
  }
  const calls: Array<number> = []
  const network = {
    callStream: (_peer: unknown, _method: unknown, request: { readonly blockRefs: ReadonlyArray<Uint8Array> }) => {
      calls.push(request.blockRefs.length)
      const refs = request.blockRefs.map((bytes) => Either.getOrThrow(decodeBcs(BlockRefBcs, bytes)))
      return Stream.map(serveFetchBlocks(store, refs), (answer) => ({ blocks: [...answer] })).pipe(Stream.orDie)
    }
  } as unknown as NetworkService
  return { network, calls }
}

describe("FetchBlocks client and the answer cap", () => {
  it.effect("an answer cut at 32 MiB is completed by asking again for what it left out: every block arrives, nobody is blamed", () =>
    Effect.gen(function* () {
      const blocks = blocksOf(Array.from({ length: 12 }, () => 3.5 * MiB))
      const { calls, network } = peerServing(blocks)
      const streamed = yield* streamBlocks(network, testPeerId(1), blocks.map((b) => b.ref))
      expect(streamed.received.length).toBe(12)
      expect(streamed.invalid).toBeUndefined()
      expect(streamed.failed).toBeUndefined()
      expect(calls).toEqual([12, 3]) // 9 blocks (31.5 MiB) fit the first answer, the 10th would not
    })
  )

  it.effect("a small answer that leaves blocks out is not asked again: the plan judges what is missing", () =>
    Effect.gen(function* () {
      const blocks = blocksOf(Array.from({ length: 12 }, () => 1_000))
      const withheld = new Set([blockRefKey(blocks[3]!.ref)])
      const { calls, network } = peerServing(blocks, (ref) => !withheld.has(blockRefKey(ref)))
      const streamed = yield* streamBlocks(network, testPeerId(1), blocks.map((b) => b.ref))
      expect(streamed.received.length).toBe(11)
      expect(calls).toEqual([12])
    })
  )

  it.effect("a peer that sends more blocks in a message than are still owed is caught before they are hashed", () =>
    Effect.gen(function* () {
      const blocks = blocksOf([10, 20])
      const network = {
        callStream: () => Stream.make({ blocks: [blocks[0]!.bytes, blocks[1]!.bytes, blocks[1]!.bytes] })
      } as unknown as NetworkService
      const streamed = yield* streamBlocks(network, testPeerId(1), blocks.map((b) => b.ref))
      expect(streamed.invalid).toMatch(/served 3 blocks with 2 still asked for/)
      expect(streamed.received.length).toBe(0)
    })
  )
})
