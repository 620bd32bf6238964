/**
 * GetKnownPeers answers come from a sample ranked at most once a second, not from ranking the whole
 * table per call (≈ 7 ms at 10,000 records, and a peer may call 100 times a second); and the ranking
 * serves what this node observed, so NodeInfos dated in the future do not outrank known peers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Random, TestClock } from "effect"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import { SERVE_SAMPLE_MAX_AGE_MS } from "../../../src/layers/discovery/constants.js"
import { servableRequest } from "../../../src/layers/discovery/plan/serve.js"
import { makeKnownPeersHandler } from "../../../src/layers/discovery/server.js"
import { makeServedSample } from "../../../src/layers/discovery/servedSample.js"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { dialSucceeded, markDialling, peerConnected } from "../../../src/layers/peers/connections.js"
import { MAX_INFO_AGE_MS, PROVEN_STREAK } from "../../../src/layers/peers/policy.js"
import { evictionOrder, servableNodeInfos } from "../../../src/layers/peers/ranking.js"
import { admitIntroductions } from "../../../src/layers/peers/introductions.js"
import { mergeNodeInfos, updateRecord, type PeerTable } from "../../../src/layers/peers/table.js"
import { tableOf } from "../peers/fixtures.js"
import { peerOf, signedInfo } from "./nodeInfos.js"

const START_MS = 1_000_000_000

describe("served sample", () => {
  it.scoped("ranks the table once for a burst of GetKnownPeers calls, and again once it is a second old", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(START_MS)
      const manager = yield* makePeerManager({ localPeerId: peerOf(0) })
      yield* manager.mergeNodeInfos(Array.from({ length: 300 }, (_, i) => signedInfo(100 + i, START_MS)))
      let computations = 0
      const counted = Effect.tap(manager.servableNodeInfos(servableRequest(200)), () => Effect.sync(() => void (computations += 1)))
      const sample = yield* makeServedSample(counted, SERVE_SAMPLE_MAX_AGE_MS)
      const crypto = yield* makeNodeCrypto({ inlineBelow: Number.MAX_SAFE_INTEGER, pool: { size: 1 } })
      const own = signedInfo(0, START_MS)
      const handler = makeKnownPeersHandler({
        manager,
        crypto,
        random: Random.make(1),
        ownInfo: Effect.succeed(own),
        maxPeersToSend: 200,
        servedSample: sample.get
      })
      const call = (caller: number) =>
        handler({ ownInfo: encodeSignedNodeInfo(signedInfo(caller, START_MS)) }, { peerId: peerOf(caller), path: "/soma.p2p.v1.P2p/GetKnownPeers" })

      for (let caller = 1; caller <= 50; caller++) {
        const answer = yield* call(caller)
        expect(answer.knownPeers).toHaveLength(200)
      }
      expect(computations).toBe(1)
      yield* TestClock.adjust(SERVE_SAMPLE_MAX_AGE_MS - 1)
      yield* call(1)
      expect(computations).toBe(1)
      yield* TestClock.adjust(1)
      yield* call(2)
      yield* call(3)
      expect(computations).toBe(2)
    })
  )
})

describe("NodeInfos dated in the future", () => {
  const NOW = 10 * MAX_INFO_AGE_MS

  it("do not outrank peers known longer or seen working: not served first, evicted first", () => {
    // Two connected introducers, the second proven (its last PROVEN_STREAK tested introductions connected). Ten honest
    // peers the first put on probation and the second promoted a minute ago, then ten newcomers dated
    // now + 29 s (the most the window allows) that reached the table the same way: equally trusted.
    const promoted = (t: PeerTable, infos: ReadonlyArray<SignedNodeInfo>, atMs: number) =>
      mergeNodeInfos(admitIntroductions(mergeNodeInfos(t, infos, atMs, peerOf(1)).table, peerOf(2), infos, atMs).table, infos, atMs, peerOf(2)).table
    let table = mergeNodeInfos(tableOf(), [signedInfo(1, NOW - 60_000), signedInfo(2, NOW - 60_000)], NOW - 60_000).table
    for (const i of [1, 2]) table = peerConnected(table, peerOf(i), `sim://${i}`, NOW - 60_000).table
    table = updateRecord(table, peerOf(2), (r) => ({ ...r, introductions: { ...r.introductions, connected: PROVEN_STREAK, streak: PROVEN_STREAK } }))
    const known = Array.from({ length: 10 }, (_, i) => signedInfo(11 + i, NOW - 60_000))
    table = promoted(table, known, NOW - 60_000)
    const newcomers = Array.from({ length: 10 }, (_, i) => signedInfo(100 + i, NOW + 29_000))
    table = promoted(table, newcomers, NOW)
    const served = servableNodeInfos(table, NOW, { exclude: undefined, minRemainingMs: 0, limit: 12 })
    expect(served.map((s) => s.info.peerId).sort()).toEqual([1, 2, ...Array.from({ length: 10 }, (_, i) => 11 + i)].map(peerOf).sort())
    const evicted = evictionOrder(table, NOW).slice(0, 10)
    expect(evicted.map((r) => r.peerId).sort()).toEqual(Array.from({ length: 10 }, (_, i) => peerOf(100 + i)).sort())
  })

  it("rank by observation first: a connected peer and one we dialled outrank an untried newer one", () => {
    let table = mergeNodeInfos(tableOf(), [signedInfo(1, NOW - 1_000), signedInfo(2, NOW - 2_000), signedInfo(3, NOW + 29_000)], NOW).table
    table = peerConnected(table, peerOf(1), "sim://1", NOW).table
    table = dialSucceeded(markDialling(table, peerOf(2), NOW), peerOf(2), "sim://2", 10, NOW).table
    const served = servableNodeInfos(table, NOW, { exclude: undefined, minRemainingMs: 0, limit: 3 })
    expect(served.map((s) => s.info.peerId)).toEqual([peerOf(2), peerOf(1), peerOf(3)])
  })
})
