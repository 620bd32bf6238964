/**
 * Every crash point, deterministically (the SIGKILL test samples them at random): the executor runs
 * over a store that "dies" at its k-th execution write — the write is lost, or it lands and the
 * process dies right after — and every later write fails. The stopped executor must have left exactly
 * commits 1..w executed (w = stored watermark); a new executor on the same store must finish the chain
 * with every transaction executed once.
 */
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, LogLevel } from "effect"
import { genesisFromChain } from "../../../src/testkit/executorGenesis.js"
import { ChainGenerator } from "../../../src/testkit/chain.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { StoreError, type StoreService } from "../../../src/services/Store.js"
import { genesisOf, produce, SimVerifierLayer, startSyncNode, type SyncSimNode } from "../sync/syncSim.js"
import { expectStoreHolds, startExecutor, withDuplicates } from "./fixtures.js"

const COMMITS = 14
const GENERATOR = new ChainGenerator({ seed: 61, validators: 4, commitsPerEpoch: 4, transactionsPerBlock: 2, accounts: 5 })
const { chain: CHAIN } = withDuplicates(GENERATOR, GENERATOR.take(COMMITS), 62)
const GENESIS = genesisFromChain(GENERATOR, 300)
const SUBDAGS = CHAIN.map((c) => c.subDag)
const WAIT = "20 seconds"

type CrashMode = "write lost" | "write landed"

/** A store whose `crashAt`-th execution write (counting from 1) is the last thing it does. */
const dyingStore = (store: StoreService, crashAt: number, mode: CrashMode, died: Deferred.Deferred<void>): StoreService => {
  let writes = 0
  const dead = new StoreError({ operation: "writeExecution", detail: "simulated crash" })
  return {
    ...store,
    writeExecution: (write) =>
      Effect.suspend(() => {
        writes += 1
        if (writes < crashAt) return store.writeExecution(write)
        const landed = writes === crashAt && mode === "write landed" ? store.writeExecution(write) : Effect.void
        return Effect.zipRight(landed, Effect.zipRight(Deferred.succeed(died, undefined), Effect.fail(dead)))
      })
  }
}

layer(Layer.merge(Layer.scoped(SimNetwork, makeSimNetwork({ seed: 4 })), SimVerifierLayer), { excludeTestServices: true })("CommitExecutor crash points", (it) => {
  it.scoped("a crash at any execution write, lost or landed, leaves commits 1..w executed; a restart finishes with each transaction once", () =>
    Effect.gen(function* () {
      const outcomes: Array<string> = []
      // Write 1 is the genesis; then one per commit, since commits are fed one at a time.
      for (let crashAt = 1; crashAt <= COMMITS + 1; crashAt++) {
        for (const mode of ["write lost", "write landed"] as const) {
          const node: SyncSimNode = yield* startSyncNode(100 + crashAt * 2 + (mode === "write lost" ? 0 : 1), { start: genesisOf(CHAIN) })
          const died = yield* Deferred.make<void>()
          // Its retries after the crash log errors by design; keep them out of the test output.
          const dying = yield* Effect.either(startExecutor({ ...node, store: dyingStore(node.store, crashAt, mode, died) }, GENESIS)).pipe(
            Logger.withMinimumLogLevel(LogLevel.None)
          )
          if (dying._tag === "Right") {
            for (let i = 1; i <= COMMITS && !(yield* Deferred.isDone(died)); i++) {
              yield* produce(node, CHAIN, i, i)
              yield* Effect.raceFirst(dying.right.executor.awaitExecuted(i), Deferred.await(died)).pipe(Effect.timeout(WAIT))
            }
            yield* dying.right.stop
          }
          // Write 1 (genesis) leaves no record when lost; write k ≥ 2 executes commit k − 1.
          const w = mode === "write landed" ? crashAt - 1 : Math.max(0, crashAt - 2)
          if (crashAt > 1 || mode === "write landed") {
            const left = yield* expectStoreHolds(node.store, GENESIS, SUBDAGS)
            expect(left.w).toBe(w)
          } else expect(yield* node.store.scanExecutorState("", 10)).toEqual([])
          yield* produce(node, CHAIN, (yield* node.store.watermarks).highestSyncedCommit + 1, COMMITS)
          const restarted = yield* startExecutor(node, GENESIS)
          yield* restarted.executor.awaitExecuted(COMMITS).pipe(Effect.timeout(WAIT))
          const final = yield* expectStoreHolds(node.store, GENESIS, SUBDAGS)
          expect(final.w).toBe(COMMITS)
          outcomes.push(`${crashAt}/${mode}: w=${w}`)
          yield* restarted.stop
          yield* node.stop
        }
      }
      expect(outcomes.length).toBe(2 * (COMMITS + 1))
    })
  )
})
