/**
 * The pure decisions of discovery's own (`src/layers/discovery/plan/`): which peers a round queries (credible ones first),
 * and what a peer is charged with for a failed call or for the bad entries of its answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { DeadlineExceeded, PeerUnavailable, ProtocolViolation, RequestTooLarge, RpcRejected } from "../../../src/services/Network.js"
import type { NodeInfoRejection } from "../../../src/layers/discovery/plan/nodeInfoRules.js"
import { chargesOfAnswer, offenceOfCallError } from "../../../src/layers/discovery/plan/offences.js"
import { queryTargets } from "../../../src/layers/discovery/plan/round.js"
import { peerOf } from "./nodeInfos.js"

const PATH = "/soma.p2p.v1.P2p/GetKnownPeers"

describe("queryTargets", () => {
  const connected = Array.from({ length: 10 }, (_, i) => peerOf(i + 1))

  it("asks `count` distinct connected peers, never a banned one, the same for the same seed", () => {
    const banned = new Set([peerOf(1), peerOf(2), peerOf(3)])
    for (let seed = 0; seed < 50; seed++) {
      const targets = queryTargets(connected, banned, 3, seed)
      expect(targets).toHaveLength(3)
      expect(new Set(targets).size).toBe(3)
      for (const peer of targets) expect(connected.includes(peer) && !banned.has(peer)).toBe(true)
      expect(queryTargets(connected, banned, 3, seed)).toEqual(targets)
    }
  })

  it("asks credible peers first, keeping one draw open to every other connection", () => {
    const credible = new Set(connected.slice(0, 4))
    const others = new Set<string>()
    for (let seed = 0; seed < 50; seed++) {
      const targets = queryTargets(connected, new Set(), 3, seed, credible)
      expect(new Set(targets).size).toBe(3)
      expect(targets.slice(0, 2).every((p) => credible.has(p))).toBe(true)
      if (!credible.has(targets[2] as (typeof connected)[number])) others.add(targets[2] as string)
    }
    // The open draw reaches the peers not (yet) credible too.
    expect(others.size).toBeGreaterThan(3)
    // One credible connection: it is asked, and the rest are drawn from everyone else.
    const one = queryTargets(connected, new Set(), 3, 1, new Set([peerOf(9)]))
    expect(one[0]).toBe(peerOf(9))
    expect(new Set(one).size).toBe(3)
  })

  it("asks everyone it may when fewer are connected than it would ask", () => {
    expect(new Set(queryTargets(connected.slice(0, 2), new Set(), 3, 7))).toEqual(new Set(connected.slice(0, 2)))
    expect(queryTargets(connected.slice(0, 2), new Set(connected.slice(0, 2)), 3, 7)).toEqual([])
  })
})

describe("offenceOfCallError", () => {
  const peerId = peerOf(1)

  it("charges timeouts and refusals as faults, a broken answer as misbehaviour, and our oversized request as nothing", () => {
    expect(offenceOfCallError(new DeadlineExceeded({ peerId, path: PATH, timeoutMs: 5_000 }))).toBe("Timeout")
    expect(offenceOfCallError(new PeerUnavailable({ peerId, reason: "ConnectionLost", detail: "" }))).toBe("Unavailable")
    expect(offenceOfCallError(new RpcRejected({ peerId, path: PATH, code: "RESOURCE_EXHAUSTED", detail: "" }))).toBe("Unavailable")
    expect(offenceOfCallError(new ProtocolViolation({ peerId, path: PATH, reason: "UndecodableResponse", detail: "" }))).toBe("ProtocolViolation")
    expect(offenceOfCallError(new RequestTooLarge({ peerId, path: PATH, bytes: 5_000_000, limit: 4_194_304 }))).toBeUndefined()
  })
})

describe("chargesOfAnswer", () => {
  it("charges one answer once per kind of offence, in the order each first appears, with a count and an example", () => {
    const rejected: Array<NodeInfoRejection> = [
      { reason: "Expired", peerId: peerOf(5), timestampMs: 1 },
      { reason: "Ours" },
      { reason: "BadSignature", peerId: peerOf(6) },
      { reason: "FromTheFuture", peerId: peerOf(7), timestampMs: 2 },
      { reason: "Malformed", detail: "truncated" }
    ]
    const charges = chargesOfAnswer(rejected)
    expect(charges.map((c) => c.offence)).toEqual(["StaleNodeInfo", "InvalidNodeInfo"])
    expect(charges[0]?.detail).toMatch(/^2 bad NodeInfo\(s\) in GetKnownPeers, e\.g\. Expired: /)
    expect(charges[1]?.detail).toMatch(/^2 bad NodeInfo\(s\) in GetKnownPeers, e\.g\. BadSignature: /)
  })

  it("charges nothing for an answer whose only refused entry is our own NodeInfo relayed back", () => {
    expect(chargesOfAnswer([{ reason: "Ours" }])).toEqual([])
    expect(chargesOfAnswer([])).toEqual([])
  })
})
