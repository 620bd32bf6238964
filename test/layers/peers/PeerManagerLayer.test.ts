/**
 * The `PeerManager` service through its named operations: offences ban and are counted (misbehaviour
 * penalties, not faults), bans are published and read back, dials are planned once and their results
 * recorded, and the ledger follows the network's connections.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { BAN_DURATION_MS } from "../../../src/layers/peers/policy.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { CallResult, DialResult, type PeerChange } from "../../../src/services/PeerManager.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"

const START_MS = 1_000_000

const manager = (seeds: ReadonlyArray<number> = []) =>
  Effect.zipRight(
    TestClock.setTime(START_MS),
    makePeerManager({ localPeerId: peerOf(0), seeds: seeds.map((i) => ({ peerId: peerOf(i), address: `sim://seed${i}` })) })
  )

describe("PeerManager", () => {
  it.scoped("counts a penalty and a ban for InvalidData, and neither for a Timeout", () =>
    Effect.gen(function* () {
      const peers = yield* manager()
      const changes = yield* peers.changes
      const banned = yield* Effect.fork(Stream.runCollect(Stream.take(changes, 1)))
      yield* peers.reportOffence(peerOf(1), "InvalidData", "test: bad block")
      yield* peers.reportOffence(peerOf(2), "Timeout")
      const counts = yield* peers.offenceCounts
      expect(counts.find((c) => c.peerId === peerOf(1))).toEqual({ peerId: peerOf(1), bans: 1, penalties: 1, lastOffence: "InvalidData" })
      expect(counts.find((c) => c.peerId === peerOf(2))).toEqual({ peerId: peerOf(2), bans: 0, penalties: 0, lastOffence: "Timeout" })
      expect(yield* peers.isBanned(peerOf(1))).toBe(true)
      expect(yield* peers.isBanned(peerOf(2))).toBe(false)
      const [change] = Chunk.toReadonlyArray(yield* Fiber.join(banned)) as ReadonlyArray<PeerChange>
      expect(change).toMatchObject({ _tag: "PeerBanned", peerId: peerOf(1), untilMs: START_MS + BAN_DURATION_MS, offence: "InvalidData" })
      // The counters travel with the records of the snapshot too.
      const view = (yield* peers.snapshot).known.find((v) => v.peerId === peerOf(1))
      expect(view).toMatchObject({ bans: 1, penalties: 1, banned: true })
      // The ban expires on its own.
      yield* TestClock.adjust(BAN_DURATION_MS)
      expect(yield* peers.isBanned(peerOf(1))).toBe(false)
    })
  )

  it.scoped("plans a dial once, records its result, and follows the network's connections", () =>
    Effect.gen(function* () {
      const peers = yield* manager([1])
      const plan = { connectedCount: 0, target: 8, wanted: 0, rotationProbability: 0, seed: 7 }
      const orders = yield* peers.planDials(plan)
      expect(orders).toEqual([{ peerId: peerOf(1), address: "sim://seed1", purpose: "Seed" }])
      expect(yield* peers.planDials(plan)).toEqual([]) // dialling: not planned again
      yield* peers.recordDialResult(peerOf(1), DialResult.Connected({ address: "sim://seed1", rttMs: 30 }))
      expect(Option.map(yield* peers.peer(peerOf(1)), (v) => [v.connection._tag, v.rttMs])).toEqual(Option.some(["Connected", 30]))

      // A failed call backs off and charges the offence given; a good answer resets the backoff.
      yield* peers.recordCallResult(peerOf(1), CallResult.Failed({ offence: "Timeout" }))
      expect(Option.map(yield* peers.peer(peerOf(1)), (v) => [v.consecutiveFailures, v.lastOffence])).toEqual(Option.some([1, "Timeout"]))
      yield* peers.recordCallResult(peerOf(1), CallResult.Answered({ rttMs: undefined }))
      expect(Option.map(yield* peers.peer(peerOf(1)), (v) => v.consecutiveFailures)).toEqual(Option.some(0))

      // NodeInfos: merged once; an older copy is neither newer nor stored.
      const info = signedInfo(2, START_MS)
      expect(yield* peers.newerThanHeld([info])).toEqual([true])
      expect(yield* peers.mergeNodeInfos([info])).toEqual(["Inserted"])
      expect(yield* peers.newerThanHeld([info, signedInfo(2, START_MS - 1), signedInfo(2, START_MS + 1)])).toEqual([false, false, true])

      // The network lost peer 1 and connected peer 2, which we then ban: reconciling answers it for hang-up.
      yield* peers.recordConnected(peerOf(2), "sim://2")
      yield* peers.reportOffence(peerOf(2), "InvalidData")
      expect(yield* peers.reconcileConnections([peerOf(2)])).toEqual([peerOf(2)])
      expect(Option.map(yield* peers.peer(peerOf(1)), (v) => v.connection._tag)).toEqual(Option.some("Disconnected"))
      yield* peers.recordDisconnected(peerOf(2))
      expect((yield* peers.snapshot).connected).toEqual([])
    })
  )
})
