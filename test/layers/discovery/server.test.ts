/**
 * The GetKnownPeers handler, called by a raw simulated node: it caps its answer at 200 peers, checks
 * the caller's own NodeInfo (named after the authenticated caller, current, validly signed) before
 * storing it, answers INVALID_ARGUMENT to bad input, charges the caller, and refuses it once banned.
 * And, pure, which NodeInfos an answer carries.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Option } from "effect"
import { decodeSignedNodeInfo, encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { nodeInfoSignedByWrongKey } from "../../../src/testkit/faults.js"
import { MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { seededRng } from "../../../src/layers/peers/prng.js"
import { servableNodeInfos } from "../../../src/layers/peers/ranking.js"
import { mergeNodeInfos, updateRecord, type PeerTable } from "../../../src/layers/peers/table.js"
import { SERVE_AGE_MARGIN_MS } from "../../../src/layers/discovery/constants.js"
import { knownPeersToServe, servableRequest } from "../../../src/layers/discovery/plan/serve.js"
import { makeSimDiscoveryWorld, simAddress } from "../../../src/testkit/discovery/simWorld.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import { onVirtualTime, within } from "./fixtures.js"
import { tableOf } from "../peers/fixtures.js"
import { nodeInfo, peerOf, signedInfo, signerOf, verifies } from "./nodeInfos.js"

describe("GetKnownPeers handler", () => {
  it.live("serves at most 200 peers, checks the caller's own info, and bans a caller that keeps lying", () =>
    onVirtualTime({ seed: 3 }, (time) =>
      Effect.gen(function* () {
        const sim = yield* makeSimDiscoveryWorld({ seed: 3, nodes: 1 })
        const server = yield* sim.start(0)
        const caller = yield* makeSimNode({ peerId: peerOf(1) })
        yield* within(time, 1_000, caller.dial(server.peerId, simAddress(server.peerId)))
        const now = yield* Clock.currentTimeMillis
        // The server knows 300 other peers.
        yield* server.manager.mergeNodeInfos(Array.from({ length: 300 }, (_, i) => signedInfo(10 + i, now)))

        const ask = (ownInfo: Uint8Array) =>
          within(time, 1_000, Effect.either(caller.call(server.peerId, P2pMethods.GetKnownPeers, { ownInfo }, { timeout: "5 seconds" })))
        const codeOf = (result: Either.Either<unknown, { readonly _tag: string; readonly code?: string }>) =>
          Either.isLeft(result) ? (result.left.code ?? result.left._tag) : "OK"

        // A valid request: our info is stored, the answer is capped and carries the server's own info.
        const answer = yield* ask(encodeSignedNodeInfo(signedInfo(1, now)))
        const response = Either.getOrThrow(answer)
        expect(response.knownPeers).toHaveLength(200)
        const serverInfo = Either.getOrThrow(decodeSignedNodeInfo(response.ownInfo))
        expect(serverInfo.info.peerId).toBe(server.peerId)
        expect(verifies(serverInfo)).toBe(true)
        const served = response.knownPeers.map((bytes) => Either.getOrThrow(decodeSignedNodeInfo(bytes)))
        expect(served.some((s) => s.info.peerId === peerOf(1))).toBe(false)
        expect(Option.map(yield* server.manager.peer(peerOf(1)), (v) => v.info?.info.timestampMs)).toEqual(Option.some(now))

        // Bad input: INVALID_ARGUMENT and a penalty. (A second caller, so that the penalties do not add up.)
        const other = yield* makeSimNode({ peerId: peerOf(3) })
        yield* within(time, 1_000, other.dial(server.peerId, simAddress(server.peerId)))
        const askAs = (node: typeof caller, ownInfo: Uint8Array) =>
          within(time, 1_000, Effect.either(node.call(server.peerId, P2pMethods.GetKnownPeers, { ownInfo }, { timeout: "5 seconds" })))
        expect(codeOf(yield* askAs(other, new Uint8Array(0)))).toBe("INVALID_ARGUMENT")
        expect(Option.map(yield* server.manager.peer(peerOf(3)), (v) => [v.lastOffence, v.info])).toEqual(Option.some(["InvalidNodeInfo", undefined]))

        expect(codeOf(yield* ask(encodeSignedNodeInfo(signedInfo(1, now + 60_000))))).toBe("INVALID_ARGUMENT") // future: StaleNodeInfo −5
        expect(codeOf(yield* ask(encodeSignedNodeInfo(nodeInfoSignedByWrongKey(nodeInfo(1, now + 1), signerOf(7)))))).toBe("INVALID_ARGUMENT") // forged: −30
        const afterForged = yield* server.manager.peer(peerOf(1))
        expect(Option.map(afterForged, (v) => [v.banned, v.info?.info.timestampMs])).toEqual(Option.some([false, now])) // the forged, newer info was not stored
        // Someone else's info (−30): the caller is now banned and cut off — the answer to the call that
        // banned it may go down with its connection — ...
        expect(["INVALID_ARGUMENT", "PeerUnavailable"]).toContain(codeOf(yield* ask(encodeSignedNodeInfo(signedInfo(2, now)))))
        expect(Option.isNone(yield* server.manager.peer(peerOf(2)))).toBe(true)
        expect(Option.map(yield* server.manager.peer(peerOf(1)), (v) => v.banned)).toEqual(Option.some(true))
        yield* within(time, 1_000, Effect.void)
        expect(yield* caller.connectedPeers).toEqual([])
        // ...and when it connects again, refused outright.
        yield* within(time, 1_000, caller.dial(server.peerId, simAddress(server.peerId)))
        expect(codeOf(yield* ask(encodeSignedNodeInfo(signedInfo(1, now + 2))))).toBe("PERMISSION_DENIED")
      })
    )
  )
})

describe("knownPeersToServe", () => {
  const NOW = 10 * MAX_INFO_AGE_MS
  const serve = (table: PeerTable, caller: PeerId, max: number) =>
    knownPeersToServe(servableNodeInfos(table, NOW, servableRequest(max)), caller, max, seededRng(1))

  it("serves at most the cap, never the caller, banned or nearly expired peers, and among equally observed peers the recently signed ones", () => {
    const infos = Array.from({ length: 500 }, (_, i) => signedInfo(i + 1, NOW - i * 1_000))
    let table = mergeNodeInfos(tableOf(), infos, NOW).table
    table = updateRecord(table, peerOf(2), (r) => ({ ...r, bannedUntilMs: NOW + 1 }))
    table = mergeNodeInfos(table, [signedInfo(600, NOW - MAX_INFO_AGE_MS + SERVE_AGE_MARGIN_MS)], NOW - 1).table
    const served = serve(table, peerOf(1), 200)
    expect(served).toHaveLength(200)
    const ids = new Set(served.map((s) => s.info.peerId))
    expect(ids.has(peerOf(1)) || ids.has(peerOf(2)) || ids.has(peerOf(600))).toBe(false)
    // Half from the 200 best observed (here the most recent: indices 3..202), half from the rest.
    const fromBest = served.filter((s) => NOW - s.info.timestampMs <= 201 * 1_000).length
    expect(fromBest).toBe(100)
    expect(served.filter((s) => NOW - s.info.timestampMs > 400 * 1_000).length).toBeGreaterThan(0)
    // Below the cap: everything servable.
    expect(serve(mergeNodeInfos(tableOf(), [1, 2, 3].map((i) => signedInfo(i, NOW)), NOW).table, peerOf(1), 200)).toHaveLength(2)
  })
})
