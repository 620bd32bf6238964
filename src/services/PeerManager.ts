/**
 * The `PeerManager` service: what this node knows about other nodes — their verified `SignedNodeInfo`,
 * connection state, RTT, success and failure counts, a reputation score with named penalties that
 * decays over time, bans with expiry, and the seed / allowlist flags from configuration.
 *
 * The state is one immutable value (`PeerTable`); every change is a pure transition
 * (`src/layers/discovery/peerTable.ts`, `reputation.ts`, `ranking.ts`) applied atomically by the layer.
 * Discovery drives most transitions; state sync and the server report misbehaviour and read bans.
 */
import { Context, Data, type Effect, type HashMap, type Option, type Scope, type Stream } from "effect"
import type { SignedNodeInfo } from "../domain/nodeInfo.js"
import type { PeerId } from "../domain/PeerId.js"

// ---------------------------------------------------------------------------------------------------
// Offences

/**
 * Things a peer can do wrong. Misbehaviour (`InvalidNodeInfo`, `StaleNodeInfo`, `ProtocolViolation`,
 * `InvalidData`) can get a peer banned; faults (`Timeout`, `Unavailable`) happen to honest peers on bad
 * links, so they lower the score only down to a floor above the ban threshold (penalties: `config.ts`).
 */
export type Offence =
  | "InvalidNodeInfo" // a NodeInfo that is forged, malformed or over the limits (own or relayed)
  | "StaleNodeInfo" // a NodeInfo dated in the future or older than 24 h (may be clock skew)
  | "ProtocolViolation" // an undecodable or oversized response
  | "InvalidData" // state sync: data that fails verification (provably bad; bans at once)
  | "Timeout" // a call's deadline passed
  | "Unavailable" // a dial failed or the connection broke

/** Offences that honest peers on a bad link commit too: they never ban on their own. */
export const isFault = (offence: Offence): boolean => offence === "Timeout" || offence === "Unavailable"

// ---------------------------------------------------------------------------------------------------
// State

/** Our outbound connection to a peer (the only kind `Network.call` can use). */
export type ConnectionState =
  | { readonly _tag: "Disconnected"; /** When it was last connected; `undefined` if never. */ readonly sinceMs: number | undefined }
  | { readonly _tag: "Dialling"; readonly sinceMs: number; /** As before the dial. */ readonly disconnectedSinceMs: number | undefined }
  | { readonly _tag: "Connected"; readonly sinceMs: number; readonly address: string }

/** Everything known about one peer. */
export interface PeerRecord {
  readonly peerId: PeerId
  /** Its newest verified NodeInfo (signed by its own key); `undefined` until one is learnt. */
  readonly info: SignedNodeInfo | undefined
  /** The address configured for a seed or allowlisted peer. */
  readonly configuredAddress: string | undefined
  readonly seed: boolean
  readonly allowlisted: boolean
  readonly connection: ConnectionState
  /** No dial before this time (exponential backoff after failures). */
  readonly backoffUntilMs: number
  /** Failed dials or calls since the last success (drives the backoff). */
  readonly consecutiveFailures: number
  readonly successes: number
  readonly failures: number
  /** Smoothed round-trip time of calls and dials; `undefined` until measured. */
  readonly rttMs: number | undefined
  /** Reputation at `scoreAtMs` (≤ 0); it decays towards 0 from then on. */
  readonly score: number
  readonly scoreAtMs: number
  /** Banned while `now < bannedUntilMs`. */
  readonly bannedUntilMs: number
  /** How many times it was banned (each ban lasts twice as long as the previous one). */
  readonly bans: number
  readonly lastOffence: Offence | undefined
}

/** Penalties, bans, backoff and bounds of the table (defaults and reasons in `layers/discovery/config.ts`). */
export interface PeerPolicy {
  /** Records kept at most; beyond it the worst-ranked stale ones are evicted. */
  readonly maxKnownPeers: number
  readonly penalties: Readonly<Record<Offence, number>>
  /** A score at or below this bans the peer. */
  readonly banThreshold: number
  /** Faults alone never push the score below this. */
  readonly faultScoreFloor: number
  readonly scoreHalfLifeMs: number
  readonly banDurationMs: number
  readonly maxBanDurationMs: number
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  /** Weight of a new RTT sample in the moving average. */
  readonly rttSmoothing: number
  /** A NodeInfo may be dated at most this far in the future. */
  readonly maxFutureSkewMs: number
  /** A NodeInfo older than this is refused and culled. */
  readonly maxInfoAgeMs: number
}

/** The whole state of the peer manager: an immutable value. */
export interface PeerTable {
  readonly self: PeerId
  readonly policy: PeerPolicy
  readonly peers: HashMap.HashMap<PeerId, PeerRecord>
}

/** A change other modules may care about (refreshed NodeInfos of known peers are not changes). */
export type PeerChange = Data.TaggedEnum<{
  PeerDiscovered: { readonly peerId: PeerId; readonly info: SignedNodeInfo }
  PeerConnected: { readonly peerId: PeerId; readonly address: string }
  PeerDisconnected: { readonly peerId: PeerId }
  PeerBanned: { readonly peerId: PeerId; readonly untilMs: number; readonly offence: Offence }
  PeerForgotten: { readonly peerId: PeerId; readonly reason: "Stale" | "Evicted" }
}>

/** Constructors and matchers of `PeerChange`. */
export const PeerChange = Data.taggedEnum<PeerChange>()

/** A pure transition's result: the new table, the changes it made, and its answer. */
export interface Transition<A> {
  readonly table: PeerTable
  readonly changes: ReadonlyArray<PeerChange>
  readonly value: A
}

/** A record as other modules see it: with its score decayed to now and its ban status. */
export interface PeerView extends PeerRecord {
  readonly currentScore: number
  readonly banned: boolean
}

/** The known and connected peers at one moment. */
export interface PeerSnapshot {
  readonly atMs: number
  /** Every record, by PeerId (includes peers known only by configuration or by an offence). */
  readonly known: ReadonlyArray<PeerView>
  /** The peers we hold an outbound connection to. */
  readonly connected: ReadonlyArray<PeerView>
}

// ---------------------------------------------------------------------------------------------------
// The service

export interface PeerManagerService {
  /** Our own PeerId (never stored in the table). */
  readonly localPeerId: PeerId
  /** Every known peer with its metadata, now. */
  readonly snapshot: Effect.Effect<PeerSnapshot>
  /** One peer's record, if known. */
  readonly peer: (peerId: PeerId) => Effect.Effect<Option.Option<PeerView>>
  /**
   * Subscribes now and gives the changes as a stream for as long as the scope lives. Changes come from a
   * bounded sliding PubSub: a subscriber more than `PEER_CHANGES_CAPACITY` changes behind loses the
   * oldest ones (the manager never waits for a subscriber) and can re-sync with `snapshot`.
   */
  readonly changes: Effect.Effect<Stream.Stream<PeerChange>, never, Scope.Scope>
  /** Penalises a peer for an offence (`detail` is logged); may ban it. */
  readonly reportMisbehaviour: (peerId: PeerId, offence: Offence, detail?: string) => Effect.Effect<void>
  /** Whether the peer is banned now. */
  readonly isBanned: (peerId: PeerId) => Effect.Effect<boolean>
  /** Records a successful exchange (and its round-trip time, if measured). */
  readonly recordSuccess: (peerId: PeerId, rttMs?: number) => Effect.Effect<void>
  /**
   * Applies a pure transition atomically at the current time and publishes its changes. Nothing in
   * `f` may wait: the table is locked while it runs (never across a network call).
   */
  readonly transition: <A>(f: (table: PeerTable, nowMs: number) => Transition<A>) => Effect.Effect<A>
}

/** Tag of the `PeerManager` service. */
export class PeerManager extends Context.Tag("soma-p2p/PeerManager")<PeerManager, PeerManagerService>() {}
