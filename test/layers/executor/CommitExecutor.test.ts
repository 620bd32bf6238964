import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Layer, Option, Runtime, Stream } from "effect"
import * as fc from "fast-check"
import { toHex } from "../../../src/domain/bytes.js"
import { committeeDigest } from "../../../src/domain/committee.js"
import { ChainGenerator, GENESIS_ACCOUNT_BALANCE } from "../../../src/testkit/chain.js"
import { decodeCertifiedTransaction, transactionDigest } from "../../../src/domain/transaction.js"
import { genesisFromChain } from "../../../src/testkit/executorGenesis.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import type { CommitExecutorService, ExecutedCommit, ExecutorGenesis } from "../../../src/services/CommitExecutor.js"
import type { Verifier } from "../../../src/services/Verifier.js"
import { genesisOf, produce, SimVerifierLayer, startSyncNode } from "../sync/syncSim.js"
import { fold, foldDigest, startExecutor, withDuplicates, type Folded } from "./fixtures.js"

/** Fails a wait that should be quick instead of hanging the suite. */
const WAIT = "20 seconds"

const World = Layer.scoped(SimNetwork, makeSimNetwork({ seed: 3 }))

/** Compares everything the executor exposes with the fold. */
const expectMatchesFold = (executor: CommitExecutorService, expected: Folded, accounts: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function* () {
    for (const account of accounts) expect(yield* executor.balance(account)).toBe(expected.balances.get(toHex(account)) ?? 0)
    for (const [key, { version, value }] of expected.shared) {
      const stored = Option.getOrThrow(yield* executor.sharedValue(key))
      expect({ version: stored.version, value: toHex(stored.value) }).toEqual({ version, value })
    }
    const log = yield* executor.effectsLog(0, 100_000)
    expect(log.map((e) => ({ digest: toHex(e.digest), commitIndex: e.commitIndex, status: e.status, sharedVersions: e.sharedVersions }))).toEqual(expected.executed)
    expect(log.map((e) => e.sequence)).toEqual(expected.executed.map((_, i) => i))
    expect(yield* executor.epoch).toBe(expected.epoch)
    expect(toHex((yield* executor.stateDigest).digest)).toBe(foldDigest(expected))
  })

const chainOf = (seed: number, commits: number, commitsPerEpoch: number) => {
  const generator = new ChainGenerator({ seed, validators: 4, commitsPerEpoch, transactionsPerBlock: 2, accounts: 6 })
  return { generator, chain: generator.take(commits) }
}

const accountsOf = (generator: ChainGenerator) => Array.from({ length: generator.accountCount }, (_, i) => generator.accountSigner(i).publicKey)

const scenario = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
  commits: fc.integer({ min: 8, max: 40 }),
  perEpoch: fc.integer({ min: 3, max: 15 }),
  /** Genesis balance per account: low enough that some transfers fail (amounts are 1..100). */
  balance: fc.integer({ min: 0, max: 400 })
})
type Scenario = typeof scenario extends fc.Arbitrary<infer A> ? A : never

// Live clock: the executor runs on real fibers and waits are bounded by real timeouts.
layer(Layer.merge(World, SimVerifierLayer), { excludeTestServices: true })("CommitExecutor", (it) => {
  it.scoped("executing generated chains (with repeated transactions and failing transfers) gives exactly the independent fold", () =>
    Effect.gen(function* () {
      const runtime = yield* Effect.runtime<Verifier>()
      const runs: Array<string> = []
      const run = (s: Scenario) =>
        Effect.gen(function* () {
          const { generator, chain: plain } = chainOf(s.seed, s.commits, s.perEpoch)
          const { chain } = withDuplicates(generator, plain, s.seed)
          const genesis = genesisFromChain(generator, s.balance)
          const node = yield* startSyncNode(1, { start: genesisOf(chain) })
          const { executor } = yield* startExecutor(node, genesis)
          yield* produce(node, chain, 1, chain.length)
          yield* executor.awaitExecuted(chain.length).pipe(Effect.timeout(WAIT))
          const expected = fold(genesis, chain.map((c) => c.subDag))
          yield* expectMatchesFold(executor, expected, accountsOf(generator))
          expect(yield* executor.highestExecuted).toBe(chain.length)
          runs.push(`${expected.executed.length} executed, ${expected.duplicates} duplicates, ${expected.failed} failed`)
        })
      const property = fc.asyncProperty(scenario, (s) =>
        Runtime.runPromise(runtime)(
          Effect.scoped(Effect.flatMap(makeSimNetwork({ seed: s.seed }), (world) => Effect.provideService(run(s), SimNetwork, world)))
        )
      )
      yield* Effect.promise(() => fc.assert(property, { numRuns: 6 }))
      console.log(`fold property: ${runs.join("; ")}`)
    })
  )

  it.scoped("a transaction repeated in several blocks and commits is executed once, at its first appearance", () =>
    Effect.gen(function* () {
      const { generator, chain: plain } = chainOf(41, 30, 100)
      const { chain, copies } = withDuplicates(generator, plain, 7, 0.8)
      expect(copies).toBeGreaterThan(10)
      const genesis = genesisFromChain(generator)
      const node = yield* startSyncNode(11, { start: genesisOf(chain) })
      const { executor } = yield* startExecutor(node, genesis)
      const notifications = yield* executor.subscribe
      const collected = yield* notifications.pipe(Stream.take(chain.length), Stream.runCollect, Effect.fork)
      yield* produce(node, chain, 1, chain.length)
      const executed = Chunk.toReadonlyArray(yield* Fiber.join(collected).pipe(Effect.timeout(WAIT)))
      expect(executed.map((n) => n.index)).toEqual(chain.map((_, i) => i + 1))
      expect(executed.reduce((sum, n) => sum + n.duplicates, 0)).toBe(copies)

      const first = new Map<string, number>()
      let total = 0
      for (const c of chain)
        for (const b of c.subDag.blocks)
          for (const bytes of b.signed.block.transactions) {
            total += 1
            const digest = toHex(transactionDigest(Either.getOrThrow(decodeCertifiedTransaction(bytes)).signed.data))
            if (!first.has(digest)) first.set(digest, c.subDag.commitRef.index)
          }
      expect(total - first.size).toBe(copies)
      const log = yield* executor.effectsLog(0, 100_000)
      expect(log.length).toBe(first.size)
      expect(new Set(log.map((e) => toHex(e.digest))).size).toBe(first.size)
      for (const [digest, index] of first) {
        const effects = Option.getOrThrow(yield* executor.effects(Buffer.from(digest, "hex")))
        expect(effects.commitIndex).toBe(index)
      }
      yield* expectMatchesFold(executor, fold(genesis, chain.map((c) => c.subDag)), accountsOf(generator))
    })
  )

  it.scoped("the last commit of each epoch records the next epoch and its committee digest, and execution carries on", () =>
    Effect.gen(function* () {
      const { generator, chain } = chainOf(5, 17, 5)
      const node = yield* startSyncNode(21, { start: genesisOf(chain) })
      const { executor } = yield* startExecutor(node, genesisFromChain(generator))
      const notifications = yield* executor.subscribe
      const collected = yield* notifications.pipe(Stream.take(chain.length), Stream.runCollect, Effect.fork)
      yield* produce(node, chain, 1, chain.length)
      const executed: ReadonlyArray<ExecutedCommit> = Chunk.toReadonlyArray(yield* Fiber.join(collected).pipe(Effect.timeout(WAIT)))
      expect(executed.filter((n) => n.newEpoch !== null).map((n) => [n.index, n.newEpoch])).toEqual([[5, 1], [10, 2], [15, 3]])
      expect(executed.map((n) => n.epoch)).toEqual(chain.map((c) => c.subDag.epoch))
      expect(yield* executor.epoch).toBe(3)
      for (const epoch of [0, 1, 2, 3]) {
        const record = Option.getOrThrow(yield* executor.epochRecord(epoch))
        expect(record.firstCommit).toBe(epoch * 5 + 1)
        expect(toHex(record.committeeDigest)).toBe(toHex(committeeDigest(generator.committee(epoch))))
      }
      expect(Option.isNone(yield* executor.epochRecord(4))).toBe(true)
      expect(yield* executor.highestExecuted).toBe(17)
    })
  )

  it.scoped("two executors fed the same chain differently (live one by one; caught up in batches across a restart) have the same state digest", () =>
    Effect.gen(function* () {
      const { generator, chain: plain } = chainOf(77, 150, 40)
      const { chain } = withDuplicates(generator, plain, 78)
      const genesis = genesisFromChain(generator, 250)
      const start = genesisOf(chain)

      const live = yield* startSyncNode(31, { start })
      const a = yield* startExecutor(live, genesis)
      for (let i = 1; i <= chain.length; i++) {
        yield* produce(live, chain, i, i)
        yield* a.executor.awaitExecuted(i).pipe(Effect.timeout(WAIT))
      }

      // The second node stores 100 commits before its executor starts (it catches up from the store),
      // is stopped, gets the rest, and is restarted.
      const batched = yield* startSyncNode(32, { start })
      yield* produce(batched, chain, 1, 100)
      const b1 = yield* startExecutor(batched, genesis)
      yield* b1.executor.awaitExecuted(100).pipe(Effect.timeout(WAIT))
      yield* b1.stop
      yield* produce(batched, chain, 101, chain.length)
      const b2 = yield* startExecutor(batched, genesis)
      yield* b2.executor.awaitExecuted(chain.length).pipe(Effect.timeout(WAIT))

      const digestA = yield* a.executor.stateDigest
      const digestB = yield* b2.executor.stateDigest
      expect(digestA.highestExecuted).toBe(chain.length)
      expect(toHex(digestB.digest)).toBe(toHex(digestA.digest))
      const expected = fold(genesis, chain.map((c) => c.subDag))
      expect(expected.failed).toBeGreaterThan(0)
      expect(expected.duplicates).toBeGreaterThan(0)
      yield* expectMatchesFold(b2.executor, expected, accountsOf(generator))

      // A different history gives a different digest: the digest really covers the state.
      const shorter = yield* startSyncNode(33, { start })
      yield* produce(shorter, chain, 1, chain.length - 1)
      const c = yield* startExecutor(shorter, genesis)
      yield* c.executor.awaitExecuted(chain.length - 1).pipe(Effect.timeout(WAIT))
      expect(toHex((yield* c.executor.stateDigest).digest)).not.toBe(toHex(digestA.digest))
    })
  )

  it.scoped("a store started from one genesis refuses another", () =>
    Effect.gen(function* () {
      const { generator, chain } = chainOf(9, 3, 100)
      const node = yield* startSyncNode(41, { start: genesisOf(chain) })
      const first = yield* startExecutor(node, genesisFromChain(generator))
      yield* produce(node, chain, 1, 3)
      yield* first.executor.awaitExecuted(3).pipe(Effect.timeout(WAIT))
      yield* first.stop
      const other: ExecutorGenesis = genesisFromChain(generator, GENESIS_ACCOUNT_BALANCE + 1)
      const refused = yield* Effect.either(startExecutor(node, other))
      expect(Either.isLeft(refused) && refused.left._tag).toBe("GenesisMismatch")
      const again = yield* startExecutor(node, genesisFromChain(generator))
      expect(yield* again.executor.highestExecuted).toBe(3)
    })
  )
})

