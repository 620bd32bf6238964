/**
 * State sync at the scale of the reference network (DESIGN.md §10): 100 validators with BLS
 * certificates across an epoch change, and 10 validators with 1,000 transactions per block (the
 * largest blocks). Every honest FetchCommits answer must prove its certification within the message
 * limits, so the stream is exactly the generator's and no honest validator is ever banned.
 */
import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import type { ChainConfig, GeneratedCommit } from "../../../src/testkit/chain.js"
import { cachedChain } from "../../../src/testkit/chainCache.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { settleSimulated } from "../network/harness.js"
import { genesisOf, produce, SimVerifierLayer, startSyncNode } from "./syncSim.js"

const World = Layer.scoped(SimNetwork, makeSimNetwork({ seed: 7, defaultLink: { latencyMs: 50, lossProbability: 0 } }))

/** Syncs `chain` from 3 validators into a fresh node; checks the stream and that nobody was banned. */
const syncFromValidators = (chain: ReadonlyArray<GeneratedCommit>) =>
  Effect.gen(function* () {
    const start = genesisOf(chain)
    const validators = yield* Effect.forEach([0, 1, 2], (n) => startSyncNode(n, { start }))
    for (const v of validators) yield* produce(v, chain, 1, chain.length)
    const fresh = yield* startSyncNode(10, { start })
    const delivered = yield* settleSimulated(
      Effect.gen(function* () {
        for (const v of validators) yield* Effect.orDie(fresh.network.dial(v.peerId, v.address))
        return yield* fresh.sync.commits(1).pipe(Stream.take(chain.length), Stream.runCollect)
      })
    )
    expect(Chunk.toReadonlyArray(delivered).map((s) => toHex(s.commitRef.digest))).toEqual(chain.map((c) => toHex(c.subDag.commitRef.digest)))
    const status = yield* fresh.sync.status
    expect(status.bannedPeers).toBe(0)
    expect(status.peers.filter((p) => p.banned)).toEqual([])
    return status
  })

const chainOf = (config: ChainConfig, commits: number) => cachedChain(config, commits)

layer(Layer.merge(World, SimVerifierLayer))("state sync at committee scale", (it) => {
  it.scoped(
    "100 validators × 10 transactions per block, across an epoch change: exactly the generator's sequence, no honest peer banned",
    () =>
      Effect.gen(function* () {
        const chain = chainOf({ seed: 31, validators: 100, commitsPerEpoch: 3, transactionsPerBlock: 10 }, 5)
        expect(chain.map((c) => c.committee.epoch)).toEqual([0, 0, 0, 1, 1])
        expect(chain[1]!.subDag.blocks.length).toBeGreaterThanOrEqual(100)
        const status = yield* syncFromValidators(chain)
        expect(status.epoch).toBe(1)
      }),
    120_000
  )

  it.scoped(
    "10 validators × 1,000 transactions per block: exactly the generator's sequence, no honest peer banned",
    () =>
      Effect.gen(function* () {
        const chain = chainOf({ seed: 32, validators: 10, commitsPerEpoch: 100, transactionsPerBlock: 1_000 }, 2)
        // Blocks of ≈ 250 KB: 7 certifier blocks alone are ≈ 1.8 MB, 67 of them at 100 validators ≈ 17 MB.
        expect(chain[1]!.certifierBlocks[0]!.bytes.length).toBeGreaterThan(200_000)
        yield* syncFromValidators(chain)
      }),
    180_000
  )
})
