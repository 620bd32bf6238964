import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/domain/testkit/chain.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { settleSimulated } from "../network/harness.js"
import { genesisOf, produce, SimVerifierLayer, startSyncNode } from "./syncSim.js"

const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 17, validators: 4, commitsPerEpoch: 100, transactionsPerBlock: 1 }).take(300)
const canonical = (to: number) => CHAIN.slice(0, to).map((c) => toHex(c.subDag.commitRef.digest))

const World = Layer.scoped(SimNetwork, makeSimNetwork({ seed: 5 }))

layer(Layer.merge(World, SimVerifierLayer))("state sync in simulation", (it) => {
  it.scoped("a fresh node syncs 300 commits across 3 epochs from 4 validators and delivers exactly the canonical sequence", () =>
    Effect.gen(function* () {
      const start = genesisOf(CHAIN)
      const validators = yield* Effect.forEach([0, 1, 2, 3], (n) => startSyncNode(n, { start }))
      for (const v of validators) yield* produce(v, CHAIN, 1, 300)
      const fresh = yield* startSyncNode(10, { start })
      // Dials take simulated time: everything that waits runs under `settleSimulated`.
      const delivered = yield* settleSimulated(
        Effect.gen(function* () {
          for (const v of validators) yield* Effect.orDie(fresh.network.dial(v.peerId, v.address))
          return yield* fresh.sync.commits(1).pipe(Stream.take(300), Stream.runCollect)
        })
      )
      expect(Chunk.toReadonlyArray(delivered).map((s) => toHex(s.commitRef.digest))).toEqual(canonical(300))
      const status = yield* fresh.sync.status
      expect(status.highestSyncedCommit).toBe(300)
      expect(status.epoch).toBe(3)
    })
  )
})
