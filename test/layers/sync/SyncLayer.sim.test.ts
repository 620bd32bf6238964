import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Stream } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { settleSimulated } from "../network/harness.js"
import { genesisOf, produce, produceAtCommitTime, SimVerifierLayer, startByzantineNode, startSyncNode, type Fault } from "./syncSim.js"

const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 17, validators: 4, commitsPerEpoch: 100, transactionsPerBlock: 1 }).take(300)
const canonical = (to: number, chain = CHAIN) => chain.slice(0, to).map((c) => toHex(c.subDag.commitRef.digest))
/** 2,000 commits over 3 epochs (700 + 700 + 600). */
const LONG_CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 18, validators: 4, commitsPerEpoch: 700, transactionsPerBlock: 1 }).take(2_000)

const World = Layer.scoped(SimNetwork, makeSimNetwork({ seed: 5 }))

layer(Layer.merge(World, SimVerifierLayer))("state sync in simulation", (it) => {
  it.scoped("a fresh node syncs 2,000 commits across 3 epochs from 4 validators and delivers exactly the canonical sequence", () =>
    Effect.gen(function* () {
      const start = genesisOf(LONG_CHAIN)
      const validators = yield* Effect.forEach([0, 1, 2, 3], (n) => startSyncNode(n, { start }))
      for (const v of validators) yield* produce(v, LONG_CHAIN, 1, 2_000)
      const fresh = yield* startSyncNode(10, { start })
      // Dials take simulated time: everything that waits runs under `settleSimulated`.
      const delivered = yield* settleSimulated(
        Effect.gen(function* () {
          for (const v of validators) yield* Effect.orDie(fresh.network.dial(v.peerId, v.address))
          return yield* fresh.sync.commits(1).pipe(Stream.take(2_000), Stream.runCollect)
        })
      )
      expect(Chunk.toReadonlyArray(delivered).map((s) => toHex(s.commitRef.digest))).toEqual(canonical(2_000, LONG_CHAIN))
      const status = yield* fresh.sync.status
      expect(status.highestSyncedCommit).toBe(2_000)
      expect(status.epoch).toBe(2)
      expect(yield* fresh.store.lastCommitOfEpoch(1)).toEqual(Option.some(1_400))
    })
  )

  it.scoped("with a height liar, a block forger, a commit forger, a staller and a peer that drops connections mid-stream, the output is still exactly the canonical sequence and the liars are banned", () =>
    Effect.gen(function* () {
      const start = genesisOf(CHAIN)
      const world = yield* SimNetwork
      const honest = yield* startSyncNode(0, { start })
      yield* produce(honest, CHAIN, 1, 300)
      const dropper = yield* startSyncNode(1, { start })
      yield* produce(dropper, CHAIN, 1, 300)
      yield* world.setPeerConditions(dropper.peerId, { disconnectAfterStreamMessages: 1 })
      // In this order: a commit forger after the liar is certainly asked for commits (nobody else has served them yet).
      const faults: ReadonlyArray<Fault> = ["heightLiar", "commitForger", "blockForger", "staller"]
      const byzantine = yield* Effect.forEach(faults, (fault, i) => startByzantineNode(20 + i, fault, CHAIN, 300))
      const fresh = yield* startSyncNode(10, { start })
      const delivered = yield* settleSimulated(
        Effect.gen(function* () {
          // Each Byzantine peer alone for a simulated minute (so it is certainly asked), then the others.
          for (const peer of byzantine) {
            yield* Effect.orDie(fresh.network.dial(peer.peerId, peer.address))
            yield* Effect.sleep("60 seconds")
          }
          const early = yield* fresh.sync.status
          expect(early.highestSyncedCommit).toBe(0)
          for (const peer of [dropper, honest]) yield* Effect.orDie(fresh.network.dial(peer.peerId, peer.address))
          return yield* fresh.sync.commits(1).pipe(Stream.take(300), Stream.runCollect)
        })
      )
      expect(Chunk.toReadonlyArray(delivered).map((s) => toHex(s.commitRef.digest))).toEqual(canonical(300))
      // Both forgers are banned. The height liar only ever answered "not yet" (empty, above anything it
      // proved: DESIGN.md §6.1) and the staller only timed out: neither is proof of malice, both were
      // backed off. The honest peer and the one that drops connections are not banned.
      const status = yield* fresh.sync.status
      const banned = new Map(status.peers.map((p) => [p.peerId, p.banned]))
      expect(byzantine.map((b) => banned.get(b.peerId))).toEqual([false, true, true, false])
      expect([honest.peerId, dropper.peerId].map((p) => banned.get(p))).toEqual([false, false])
      expect(yield* fresh.store.watermarks).toMatchObject({ highestSyncedCommit: 300 })
    })
  )

  it.scoped("a node started from a trusted checkpoint syncs only what comes after it", () =>
    Effect.gen(function* () {
      const validators = yield* Effect.forEach([0, 1], (n) => startSyncNode(n, { start: genesisOf(CHAIN) }))
      for (const v of validators) yield* produce(v, CHAIN, 1, 300)
      // Trust commit 150 (mid-epoch 1) and the committee of commit 151's epoch, as an operator would;
      // the node then crosses into epoch 2 at commit 201 on its own.
      const checkpoint = { commitRef: CHAIN[149]!.subDag.commitRef, committee: CHAIN[150]!.committee }
      const fresh = yield* startSyncNode(12, { start: checkpoint })
      const delivered = yield* settleSimulated(
        Effect.gen(function* () {
          for (const v of validators) yield* Effect.orDie(fresh.network.dial(v.peerId, v.address))
          return yield* fresh.sync.commits(151).pipe(Stream.take(150), Stream.runCollect)
        })
      )
      expect(Chunk.toReadonlyArray(delivered).map((s) => toHex(s.commitRef.digest))).toEqual(canonical(300).slice(150))
      const w = yield* fresh.store.watermarks
      expect(w).toMatchObject({ highestSyncedCommit: 300, lowestAvailableCommit: 151 })
      // Nothing before the checkpoint was fetched or can be asked for.
      expect(Option.isNone(yield* fresh.store.getCommit(150))).toBe(true)
      const early = yield* Effect.either(fresh.sync.commits(1).pipe(Stream.take(1), Stream.runCollect))
      expect(early._tag === "Left" && early.left._tag).toBe("CommitUnavailable")
    })
  )

  it.scoped("a full node follows a validator that stores each commit at commit time and its votes later: it never bans it and stays within 2 commits of its certified tip", () =>
    Effect.gen(function* () {
      const start = genesisOf(CHAIN)
      const validator = yield* startSyncNode(0, { start })
      const follower = yield* startSyncNode(10, { start })
      const intervalMs = 1_000
      const samples = yield* settleSimulated(
        Effect.gen(function* () {
          // 200 commits at one per second: over 3 minutes of consensus. The follower joins after 20 s
          // (catch-up), then follows; from 40 s on, once a second, compare heights.
          const producing = yield* Effect.fork(produceAtCommitTime(validator, CHAIN, 1, 200, intervalMs))
          yield* Effect.sleep("20 seconds")
          // Connected both ways, as discovery leaves them: pushes travel on the validator's own connection.
          yield* Effect.orDie(follower.network.dial(validator.peerId, validator.address))
          yield* Effect.orDie(validator.network.dial(follower.peerId, follower.address))
          yield* Effect.sleep("20 seconds")
          const seen: Array<{ certified: number; stored: number; followed: number }> = []
          while (seen.length < 150) {
            const v = yield* Effect.orDie(validator.sync.status)
            const f = yield* Effect.orDie(follower.sync.status)
            seen.push({ certified: v.highestCertifiedCommit, stored: v.highestSyncedCommit, followed: f.highestSyncedCommit })
            yield* Effect.sleep("1 second")
          }
          yield* Fiber.join(producing)
          yield* Effect.sleep("10 seconds")
          return seen
        })
      )
      for (const s of samples) {
        // The validator's certified tip trails what it stored by at most one commit (votes come half an interval later).
        expect(s.stored - s.certified).toBeGreaterThanOrEqual(0)
        expect(s.stored - s.certified).toBeLessThanOrEqual(1)
        expect(s.certified - s.followed).toBeLessThanOrEqual(2)
      }
      expect(samples[samples.length - 1]!.certified).toBeGreaterThan(samples[0]!.certified + 140)
      // At the end the follower has everything the validator can prove (all 200: the last votes were recorded).
      const final = yield* Effect.orDie(follower.sync.status)
      expect(final.highestSyncedCommit).toBe(200)
      expect(final.peers.find((p) => p.peerId === validator.peerId)?.banned).toBe(false)
      // Nor did its peer ledger ever charge the validator with anything.
      expect(yield* follower.peers.offenceCounts).toEqual([])
    })
  )

  it.scoped("a peer that proves commits and then withholds their blocks is banned; the output is still exactly the canonical sequence", () =>
    Effect.gen(function* () {
      const start = genesisOf(CHAIN)
      const withholder = yield* startByzantineNode(30, "blockWithholder", CHAIN, 300)
      const honest = yield* startSyncNode(0, { start })
      yield* produce(honest, CHAIN, 1, 300)
      const fresh = yield* startSyncNode(10, { start })
      const delivered = yield* settleSimulated(
        Effect.gen(function* () {
          // The withholder alone first: it is certainly asked for commits (and proves them), then for their blocks.
          yield* Effect.orDie(fresh.network.dial(withholder.peerId, withholder.address))
          yield* Effect.sleep("60 seconds")
          const early = yield* Effect.orDie(fresh.sync.status)
          expect(early.highestSyncedCommit).toBe(0)
          expect(early.peers.find((p) => p.peerId === withholder.peerId)?.banned).toBe(true)
          yield* Effect.orDie(fresh.network.dial(honest.peerId, honest.address))
          return yield* fresh.sync.commits(1).pipe(Stream.take(300), Stream.runCollect)
        })
      )
      expect(Chunk.toReadonlyArray(delivered).map((s) => toHex(s.commitRef.digest))).toEqual(canonical(300))
      const status = yield* Effect.orDie(fresh.sync.status)
      expect(status.peers.find((p) => p.peerId === honest.peerId)?.banned).toBe(false)
    })
  )
})
