/**
 * A second introducer of peers waiting on probation, relaying the very NodeInfos we verified, promotes
 * them to the table without a signature check (late in discovery most of what is news to a node is such
 * a second voice) if that introducer is credible — and each one spends its introduction budget like a new
 * peer: a free second voice let one credible liar promote another's whole probation bucket in one answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import { validateAnswer } from "../../../src/layers/discovery/validate.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { MAX_NEW_PER_ANSWER, MAX_NEW_PER_CREDIBLE_ANSWER } from "../../../src/layers/peers/policy.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { DialResult } from "../../../src/services/PeerManager.js"
import { InlineCryptoLayer, SIM_START_MS } from "./fixtures.js"
import { peerOf, signedInfo } from "./nodeInfos.js"

const SELF = 0
const FIRST = 1
const SECOND = 2
// As many as one answer of a new introducer may introduce: all of them go on probation.
const PEERS = Array.from({ length: MAX_NEW_PER_ANSWER }, (_, i) => 100 + i)

describe("corroboration of peers on probation", () => {
  it.scoped("a second introducer's copy of a probation entry is not re-verified, spends its budget, and promotes the peer", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(SIM_START_MS)
      const crypto = yield* Crypto
      let verified = 0
      const counting = { ...crypto, verifyMany: (items: Parameters<typeof crypto.verifyMany>[0]) => Effect.tap(crypto.verifyMany(items), () => void (verified += items.length)) }
      const manager = yield* makePeerManager({ localPeerId: peerOf(SELF) })
      yield* manager.mergeNodeInfos([signedInfo(FIRST, SIM_START_MS), signedInfo(SECOND, SIM_START_MS)])
      const context = { nowMs: SIM_START_MS, self: manager.localPeerId, policy: manager.policy }
      const relayed = PEERS.map((i) => encodeSignedNodeInfo(signedInfo(i, SIM_START_MS)))

      // The first introducer is new to us: its peers are verified and wait on probation.
      const first = yield* validateAnswer(counting, manager, peerOf(FIRST), encodeSignedNodeInfo(signedInfo(FIRST, SIM_START_MS)), relayed, context)
      yield* manager.mergeNodeInfos(first.introduced, peerOf(FIRST))
      const firstVerified = verified
      expect(firstVerified).toBe(PEERS.length)
      const known = (yield* manager.snapshot).known.map((v) => v.peerId)
      expect(PEERS.filter((i) => known.includes(peerOf(i)))).toEqual([])

      // The second is credible: three peers it introduced were reached.
      yield* manager.mergeNodeInfos([300, 301, 302].map((i) => signedInfo(i, SIM_START_MS)), peerOf(SECOND))
      for (const i of [300, 301, 302]) yield* manager.recordDialResult(peerOf(i), DialResult.Connected({ address: `sim://${i}`, rttMs: 10 }))
      // It relays the same bytes and as many peers nobody introduced yet as its (credible) answer budget:
      // the copies need no check but spend that budget, so only budget − copies new ones are checked and
      // the rest are over it (dropped unverified). The copies are promoted.
      const fresh = Array.from({ length: MAX_NEW_PER_CREDIBLE_ANSWER }, (_, i) => encodeSignedNodeInfo(signedInfo(500 + i, SIM_START_MS)))
      const second = yield* validateAnswer(counting, manager, peerOf(SECOND), encodeSignedNodeInfo(signedInfo(SECOND, SIM_START_MS)), [...relayed, ...fresh], context)
      expect(verified - firstVerified).toBe(MAX_NEW_PER_CREDIBLE_ANSWER - PEERS.length)
      expect(second.overBudget).toBe(PEERS.length)
      yield* manager.mergeNodeInfos(second.introduced, peerOf(SECOND))
      const after = (yield* manager.snapshot).known
      expect(PEERS.filter((i) => after.some((v) => v.peerId === peerOf(i) && v.info !== undefined))).toEqual(PEERS)
    }).pipe(Effect.provide(InlineCryptoLayer))
  )
})
