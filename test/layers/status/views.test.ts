/**
 * The status and peers views as pure functions of the services' snapshots: sync state and heights,
 * banned peers counted once across the ledger and sync, and `/peers` bounded, ordered most useful
 * first, joining sync's claims to the ledger's records — every answer valid by its Schema.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { MAX_PEERS_LIMIT, PeersAnswer, peersView, type PeerEntry } from "../../../src/layers/status/peersView.js"
import { StatusAnswer, statusView, type StatusSources } from "../../../src/layers/status/statusView.js"
import type { ConnectionState, PeerSnapshot, PeerView } from "../../../src/services/PeerManager.js"
import type { SyncPeerStatus, SyncStatus } from "../../../src/services/StateSync.js"
import { simPeerId } from "../sync/syncSim.js"

const NOW = 1_800_000_000_000
const ids: ReadonlyArray<PeerId> = Array.from({ length: 12 }, (_, i) => simPeerId(i + 1))

/** Real ledger records (of seeds), so that the views see every field the ledger has. */
const baseRecords: ReadonlyArray<PeerView> = Effect.runSync(
  Effect.scoped(
    Effect.flatMap(makePeerManager({ localPeerId: simPeerId(0), seeds: ids.map((peerId, i) => ({ peerId, address: `10.0.0.${i}:7000` })) }), (m) => m.snapshot)
  )
).known

const syncStatus = (over: Partial<SyncStatus> = {}): SyncStatus => ({
  highestSyncedCommit: 40,
  highestCertifiedCommit: 39,
  targetCommit: 40,
  lowestAvailableCommit: 0,
  epoch: 2,
  peersWithClaims: 1,
  bannedPeers: 0,
  peers: [],
  ...over
})

const sources = (over: Partial<StatusSources> = {}): StatusSources => ({
  nowMs: NOW,
  startedAtMs: NOW - 61_500,
  version: "9.9.9",
  peerId: simPeerId(0),
  role: "FullNode",
  sync: syncStatus(),
  peers: undefined,
  networkConnected: [],
  highestExecuted: 38,
  ...over
})

const snapshotOf = (known: ReadonlyArray<PeerView>): PeerSnapshot => ({ atMs: NOW, known, connected: known.filter((p) => p.connection._tag === "Connected") })

describe("statusView", () => {
  it("reports heights, epoch, uptime and the sync state", () => {
    const status = statusView(sources())
    expect(Schema.is(StatusAnswer)(status)).toBe(true)
    expect(status.heights).toEqual({ stored: 40, certified: 39, executed: 38, networkTarget: 40, lowestAvailable: 0 })
    expect([status.epoch, status.uptimeSeconds, status.version, status.role]).toEqual([2, 61.5, "9.9.9", "FullNode"])
    expect(status.sync).toEqual({ state: "Synced", behind: 0, peersWithClaims: 1 })
    expect(statusView(sources({ sync: syncStatus({ targetCommit: 100 }) })).sync).toEqual({ state: "Syncing", behind: 60, peersWithClaims: 1 })
    expect(statusView(sources({ sync: syncStatus({ peersWithClaims: 0 }) })).sync?.state).toBe("NoPeerClaims")
    // Before the certified tip is known, sync says −1: the answer says 0 (nothing certified), never a negative height.
    expect(statusView(sources({ sync: syncStatus({ highestCertifiedCommit: -1 }) })).heights.certified).toBe(0)
  })

  it("counts a peer banned by both the ledger and sync once, and falls back to the network's connections without a ledger", () => {
    const banned = { ...baseRecords[0]!, banned: true, bannedUntilMs: NOW + 1_000 }
    const syncPeers: ReadonlyArray<SyncPeerStatus> = [
      { peerId: banned.peerId, claimedHeight: 10, banned: true, inflight: 0, failures: 0 },
      { peerId: ids[5]!, claimedHeight: 10, banned: true, inflight: 0, failures: 0 }
    ]
    const status = statusView(sources({ peers: snapshotOf([banned, ...baseRecords.slice(1)]), sync: syncStatus({ peers: syncPeers }) }))
    expect(status.peers).toEqual({ connected: 0, known: 12, banned: 2 })
    expect(statusView(sources({ peers: undefined, sync: undefined, networkConnected: [ids[0]!, ids[1]!] })).peers).toEqual({ connected: 2, known: null, banned: null })
  })
})

const connection = fc.oneof(
  fc.constant<ConnectionState>({ _tag: "Disconnected", sinceMs: undefined }),
  fc.constant<ConnectionState>({ _tag: "Dialling", sinceMs: NOW - 5, disconnectedSinceMs: undefined }),
  fc.integer({ min: 1, max: 9 }).map<ConnectionState>((n) => ({ _tag: "Connected", sinceMs: NOW - n, address: `192.168.0.${n}:7000` }))
)

const record = fc.record({
  connection,
  currentScore: fc.double({ min: -100, max: 0, noNaN: true }),
  bannedFor: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60_000 })),
  rttMs: fc.option(fc.double({ min: 0.01, max: 30_000, noNaN: true }), { nil: undefined })
})

const claim = fc.record({ claimedHeight: fc.integer({ min: -1, max: 1_000 }), banned: fc.boolean(), inflight: fc.integer({ min: 0, max: 8 }) })

const RANK = { Connected: 0, Dialling: 1, Disconnected: 2, Unknown: 3 } as const

describe("peersView", () => {
  it.prop(
    "lists min(total, limit) peers, most useful first, each joined with its sync claim, valid by the Schema",
    [fc.array(fc.option(record, { nil: undefined }), { minLength: 12, maxLength: 12 }), fc.array(fc.option(claim, { nil: undefined }), { minLength: 12, maxLength: 12 }), fc.integer({ min: -5, max: 20 })],
    ([records, claims, limit]) => {
      const known = baseRecords.flatMap((base, i) => {
        const r = records[i]
        return r === undefined
          ? []
          : [{ ...base, connection: r.connection, currentScore: r.currentScore, bannedUntilMs: r.bannedFor === 0 ? 0 : NOW + r.bannedFor, banned: r.bannedFor > 0, rttMs: r.rttMs }]
      })
      const syncPeers = ids.flatMap((peerId, i) => {
        const c = claims[i]
        return c === undefined ? [] : [{ peerId, failures: 0, ...c }]
      })
      const answer = peersView({ nowMs: NOW, peers: snapshotOf(known), sync: syncStatus({ peers: syncPeers }), networkConnected: [] }, limit)
      expect(Schema.is(PeersAnswer)(answer)).toBe(true)
      const total = new Set([...known.map((p) => p.peerId), ...syncPeers.map((p) => p.peerId)]).size
      const bounded = Math.max(0, limit)
      expect([answer.total, answer.peers.length, answer.truncated, answer.limit]).toEqual([total, Math.min(total, bounded), total > bounded, bounded])
      const order = (p: PeerEntry) => [RANK[p.state], -(p.score ?? -Infinity)] as const
      for (let i = 1; i < answer.peers.length; i++) {
        const [a, b] = [order(answer.peers[i - 1]!), order(answer.peers[i]!)]
        expect(a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1])).toBe(true)
      }
      for (const entry of answer.peers) {
        const ledger = known.find((p) => p.peerId === entry.peerId)
        const sync = syncPeers.find((p) => p.peerId === entry.peerId)
        expect(entry.state).toBe(ledger?.connection._tag ?? "Unknown")
        expect(entry.claimedHeight).toBe(sync === undefined || sync.claimedHeight < 0 ? null : sync.claimedHeight)
        expect(entry.banned).toBe((ledger?.banned ?? false) || (sync?.banned ?? false))
        expect(entry.banExpiresAtMs).toBe(ledger !== undefined && ledger.bannedUntilMs > NOW ? ledger.bannedUntilMs : null)
        if (ledger?.connection._tag === "Connected") expect(entry.address).toBe(ledger.connection.address)
        else if (ledger !== undefined) expect(entry.address).toBe(ledger.configuredAddress)
      }
    }
  )

  it("never lists more than the ledger's bound, whatever limit is asked", () => {
    const many = Array.from({ length: MAX_PEERS_LIMIT + 5 }, (_, i) => ({ ...baseRecords[0]!, peerId: i.toString(16).padStart(64, "0") as PeerId }))
    const answer = peersView({ nowMs: NOW, peers: snapshotOf(many), sync: undefined, networkConnected: undefined }, 1e9)
    expect([answer.limit, answer.peers.length, answer.total, answer.truncated]).toEqual([MAX_PEERS_LIMIT, MAX_PEERS_LIMIT, MAX_PEERS_LIMIT + 5, true])
  })
})
