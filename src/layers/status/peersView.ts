/**
 * The answer of `GET /peers`: each peer this node knows, with its address, connection state, score,
 * RTT, claimed height and ban — the peer ledger's records (`PeerManager.snapshot`) joined with what
 * state sync believes of each (`StateSync.status`). A pure function of those snapshots; `PeersAnswer` is
 * its Schema (JSON Schema in `docs/peers.schema.json`).
 *
 * The answer is bounded: the ledger holds up to `MAX_KNOWN_PEERS` (10,000) records, and one answer lists
 * at most `limit` of them (default `DEFAULT_PEERS_LIMIT`, at most `MAX_PEERS_LIMIT`), most useful first —
 * connected, then dialling, then the rest, each by score — and says how many it left out.
 */
import { Schema } from "effect"
import { NodeRole } from "../../domain/nodeInfo.js"
import { PeerId } from "../../domain/PeerId.js"
import type { PeerSnapshot, PeerView } from "../../services/PeerManager.js"
import type { SyncPeerStatus, SyncStatus } from "../../services/StateSync.js"
import { MAX_KNOWN_PEERS } from "../peers/policy.js"

/** Peers listed when the request names no limit: a screenful, and a few kB of JSON. */
export const DEFAULT_PEERS_LIMIT = 100

/** The most one answer lists: the ledger's own bound, so `?limit=10000` lists every record (≈ 4 MB). */
export const MAX_PEERS_LIMIT = MAX_KNOWN_PEERS

const Count = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))
const nullable = <S extends Schema.Schema.Any>(schema: S, description: string) => Schema.NullOr(schema).annotations({ description })

/** Our connection to a peer, as the ledger knows it; `Unknown` for a peer only state sync knows of. */
export const PeerState = Schema.Literal("Connected", "Dialling", "Disconnected", "Unknown")
export type PeerState = typeof PeerState.Type

/** One peer of the `/peers` answer. */
export const PeerEntry = Schema.Struct({
  peerId: PeerId,
  role: nullable(NodeRole, "As its signed NodeInfo says; null until one is learnt"),
  address: nullable(Schema.String, "The connected address, else its first advertised one, else the configured one"),
  state: PeerState,
  stateSinceMs: nullable(Schema.Int, "When it entered this state (Unix ms); null if never connected"),
  banned: Schema.Boolean.annotations({ description: "Banned now, by the peer ledger or by state sync" }),
  banExpiresAtMs: nullable(Schema.Int, "When the ledger's ban ends (Unix ms); null if not banned by the ledger"),
  score: nullable(Schema.Number, "Reputation now (≤ 0, decays towards 0; the ledger bans at its threshold)"),
  rttMs: nullable(Schema.Number, "Smoothed round-trip time of calls and dials; null until measured"),
  claimedHeight: nullable(Count, "The highest commit it claims to state sync; null without a usable claim"),
  inflight: nullable(Count, "State sync's requests to it in flight"),
  seed: Schema.Boolean.annotations({ description: "Configured as a seed" }),
  allowlisted: Schema.Boolean.annotations({ description: "Configured as allowlisted (its connection is never trimmed)" }),
  bans: Count.annotations({ description: "Times this node banned it" }),
  penalties: Count.annotations({ description: "Times this node penalised it for misbehaviour (faults excluded)" }),
  lastOffence: nullable(Schema.String, "Its last offence, if any")
}).annotations({ identifier: "PeerEntry" })
export type PeerEntry = typeof PeerEntry.Type

/** The answer of `GET /peers`. */
export const PeersAnswer = Schema.Struct({
  atMs: Schema.Int.annotations({ description: "When the answer was made (Unix ms)" }),
  total: Count.annotations({ description: "Peers known (ledger and state sync together)" }),
  limit: Count.annotations({ description: "The most this answer lists" }),
  truncated: Schema.Boolean.annotations({ description: "Whether peers were left out (total > peers listed)" }),
  peers: Schema.Array(PeerEntry).annotations({ description: "Connected first, then dialling, then the rest; each group by score, best first" })
}).annotations({ identifier: "PeersAnswer", title: "soma-p2p GET /peers", description: "The peers a soma-p2p node knows" })
export type PeersAnswer = typeof PeersAnswer.Type

/** What the answer is made from. */
export interface PeersSources {
  readonly nowMs: number
  readonly peers: PeerSnapshot | undefined
  readonly sync: SyncStatus | undefined
  /** The network's own list of connections (the state of a peer the ledger does not know). */
  readonly networkConnected: ReadonlyArray<PeerId> | undefined
}

const STATE_RANK: Record<PeerState, number> = { Connected: 0, Dialling: 1, Disconnected: 2, Unknown: 3 }

const round = (value: number, decimals: number): number => {
  const scale = 10 ** decimals
  return Math.round(value * scale) / scale
}

const entryOf = (peerId: PeerId, record: PeerView | undefined, sync: SyncPeerStatus | undefined, networkConnected: boolean, nowMs: number): PeerEntry => {
  const connection = record?.connection
  const state: PeerState = connection?._tag ?? (networkConnected ? "Connected" : "Unknown")
  const address =
    connection?._tag === "Connected" ? connection.address : (record?.info?.info.addresses[0] ?? record?.configuredAddress ?? null)
  const ledgerBan = record !== undefined && record.bannedUntilMs > nowMs
  return {
    peerId,
    role: record?.info?.info.role ?? null,
    address,
    state,
    stateSinceMs: connection?.sinceMs ?? null,
    banned: ledgerBan || (record?.banned ?? false) || (sync?.banned ?? false),
    banExpiresAtMs: ledgerBan ? record.bannedUntilMs : null,
    score: record === undefined ? null : round(record.currentScore, 2),
    rttMs: record?.rttMs === undefined ? null : round(record.rttMs, 1),
    claimedHeight: sync === undefined || sync.claimedHeight < 0 ? null : sync.claimedHeight,
    inflight: sync?.inflight ?? null,
    seed: record?.seed ?? false,
    allowlisted: record?.allowlisted ?? false,
    bans: record?.bans ?? 0,
    penalties: record?.penalties ?? 0,
    lastOffence: record?.lastOffence ?? null
  }
}

/** Most useful first: by state, then score (higher is better), then claimed height, then PeerId. */
const compareEntries = (a: PeerEntry, b: PeerEntry): number =>
  STATE_RANK[a.state] - STATE_RANK[b.state] ||
  (b.score ?? -Infinity) - (a.score ?? -Infinity) ||
  (b.claimedHeight ?? -1) - (a.claimedHeight ?? -1) ||
  (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)

/** The `/peers` answer of these snapshots, at most `limit` peers (clamped to 0…`MAX_PEERS_LIMIT`). */
export const peersView = (s: PeersSources, limit: number = DEFAULT_PEERS_LIMIT): PeersAnswer => {
  const bounded = Math.max(0, Math.min(MAX_PEERS_LIMIT, Math.floor(limit)))
  const records = new Map<PeerId, PeerView>((s.peers?.known ?? []).map((p) => [p.peerId, p]))
  const syncPeers = new Map<PeerId, SyncPeerStatus>((s.sync?.peers ?? []).map((p) => [p.peerId, p]))
  const connected = new Set<PeerId>(s.networkConnected ?? [])
  const ids = new Set<PeerId>([...records.keys(), ...syncPeers.keys(), ...connected])
  const entries = [...ids].map((id) => entryOf(id, records.get(id), syncPeers.get(id), connected.has(id), s.nowMs)).sort(compareEntries)
  return { atMs: s.nowMs, total: entries.length, limit: bounded, truncated: entries.length > bounded, peers: entries.slice(0, bounded) }
}
