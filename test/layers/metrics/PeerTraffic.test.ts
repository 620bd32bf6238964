import { describe, expect, it } from "@effect/vitest"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { MAX_TRACKED_PEERS, PeerTraffic, peerLabel } from "../../../src/layers/metrics/PeerTraffic.js"

const peer = (n: number) => n.toString(16).padStart(64, "0") as PeerId

describe("PeerTraffic: per-peer figures with bounded cardinality", () => {
  it("lists the top peers of each figure, highest first, ties by peer id, peers at zero left out", () => {
    const traffic = new PeerTraffic()
    traffic.addReceivedBytes(peer(1), 100)
    traffic.addReceivedBytes(peer(2), 300)
    traffic.addReceivedBytes(peer(3), 100)
    traffic.addReceivedBytes(peer(1), 50)
    traffic.addFailure(peer(3))
    expect(traffic.top(2, "receivedBytes")).toEqual([
      [peer(2), 300],
      [peer(1), 150]
    ])
    expect(traffic.top(10, "failures")).toEqual([[peer(3), 1]])
    expect(peerLabel(peer(2))).toBe("0000000000000000")
  })

  it("forgets the quietest peer past MAX_TRACKED_PEERS", () => {
    const traffic = new PeerTraffic()
    for (let n = 1; n <= MAX_TRACKED_PEERS; n++) traffic.addReceivedBytes(peer(n), n + 10)
    traffic.addFailure(peer(MAX_TRACKED_PEERS + 1))
    expect(traffic.size).toBe(MAX_TRACKED_PEERS)
    // Peer 1 had the least traffic (11 bytes).
    expect(traffic.top(MAX_TRACKED_PEERS, "receivedBytes").some(([id]) => id === peer(1))).toBe(false)
    expect(traffic.top(1, "failures")).toEqual([[peer(MAX_TRACKED_PEERS + 1), 1]])
  })
})
