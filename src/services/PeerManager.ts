/**
 * The `PeerManager` service: what this node knows about other nodes — their verified `SignedNodeInfo`,
 * connection state, RTT, success and failure counts, a reputation score with named penalties that
 * decays over time, bans with expiry (and how many bans and misbehaviour penalties this node gave each
 * peer), and the seed / allowlist flags from configuration.
 *
 * It is the node's one peer ledger: the layer (`src/layers/peers/`) keeps one immutable table and
 * changes it only through the named operations below, each a pure rule of `src/layers/peers/` applied
 * atomically. Discovery records NodeInfos, connections, dials and calls and asks for dial plans; state
 * sync and the servers report offences and read bans.
 */
import { Context, Data, type Effect, type Option, type Scope, type Stream } from "effect"
import type { SignedNodeInfo } from "../domain/nodeInfo.js"
import type { PeerId } from "../domain/PeerId.js"

// ---------------------------------------------------------------------------------------------------
// Offences

/**
 * Things a peer can do wrong. Misbehaviour (`InvalidNodeInfo`, `StaleNodeInfo`, `ProtocolViolation`,
 * `InvalidData`) can get a peer banned; faults (`Timeout`, `Unavailable`) happen to honest peers on bad
 * links, so they lower the score only down to a floor above the ban threshold (penalties:
 * `layers/peers/policy.ts`).
 */
export type Offence =
  | "InvalidNodeInfo" // a NodeInfo that is forged, malformed or over the limits (own or relayed)
  | "StaleNodeInfo" // a NodeInfo dated in the future or older than 24 h (may be clock skew)
  | "ProtocolViolation" // an undecodable or oversized response
  | "InvalidData" // state sync: data that fails verification (provably bad; bans at once)
  | "Timeout" // a call's deadline passed
  | "Unavailable" // a dial failed or the connection broke
  | "FailedIntroductions" // most of the new peers it introduced could not be dialled (fake identities)

/** Offences that honest peers on a bad link commit too: they never ban on their own. */
export const isFault = (offence: Offence): boolean => offence === "Timeout" || offence === "Unavailable"

// ---------------------------------------------------------------------------------------------------
// State

/** Our outbound connection to a peer (the only kind `Network.call` can use). */
export type ConnectionState =
  | { readonly _tag: "Disconnected"; /** When it was last connected; `undefined` if never. */ readonly sinceMs: number | undefined }
  | { readonly _tag: "Dialling"; readonly sinceMs: number; /** As before the dial. */ readonly disconnectedSinceMs: number | undefined }
  | { readonly _tag: "Connected"; readonly sinceMs: number; readonly address: string }

/**
 * What the new peers a peer introduced to us (in its GetKnownPeers answers) turned out to be, and its
 * introduction budget's current window (rules: `layers/peers/introductions.ts`).
 */
export interface IntroductionStats {
  /** Start of the current budget window, and the new peers it introduced in it. */
  readonly windowStartMs: number
  readonly inWindow: number
  /** Introduced peers whose first dial connected, or failed. */
  readonly connected: number
  readonly failed: number
  /** Introduced peers that connected since the last one that failed (credibility: `credibility.ts`). */
  readonly streak: number
}

/** Everything known about one peer. */
export interface PeerRecord {
  readonly peerId: PeerId
  /** When this node first heard of it (the record was created). */
  readonly firstSeenMs: number
  /** The peer whose GetKnownPeers answer first told us about it; `undefined` if configured or self-announced. */
  readonly introducedBy: PeerId | undefined
  /**
   * A second, distinct introducer that vouches (`vouches` in `table.ts`) reported it too: its first introducer's word is not all we have. An
   * introduced peer is served to others only once corroborated or reached (`servableNodeInfos`), so a
   * liar's identities that slipped in while it was credible are not relayed by honest nodes.
   */
  readonly corroborated: boolean
  /** What its own introductions of others turned out to be. */
  readonly introductions: IntroductionStats
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
  /** How many times it was penalised for misbehaviour (every offence but the faults: see `isFault`). */
  readonly penalties: number
  readonly lastOffence: Offence | undefined
}

/** Penalties, bans, backoff and bounds of the table (defaults and reasons in `layers/peers/policy.ts`). */
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
  /** New peers one answer may introduce; the rest are dropped unverified. */
  readonly maxNewPerAnswer: number
  /** New peers one responder may introduce per window (shrinks when its introductions fail to connect). */
  readonly maxNewPerWindow: number
  /** New peers one answer of a credible responder (its tested introductions connect) may introduce; they skip probation. */
  readonly maxNewPerCredibleAnswer: number
  /** New peers a credible responder may introduce per window (instead of `maxNewPerWindow`). */
  readonly maxNewPerCredibleWindow: number
  /** Feeler dials per round: untested introductions tried, so that their introducers are judged early. */
  readonly feelersPerRound: number
  /** Learning dials per round: credible peers we are not connected to, asked once while anything waits on probation. */
  readonly learningDialsPerRound: number
  /** Confirmation dials per round: probation entries several believed voices reported, dialled (not queried) to prove them real. */
  readonly confirmationDialsPerRound: number
  readonly introductionWindowMs: number
  /** Introduced peers on probation (not yet confirmed by a second introducer or a dial) per introducer, and in all. */
  readonly maxProbationPerIntroducer: number
  readonly maxProbation: number
}

/** A change other modules may care about (refreshed NodeInfos of known peers are not changes). */
export type PeerChange = Data.TaggedEnum<{
  PeerDiscovered: { readonly peerId: PeerId; readonly info: SignedNodeInfo }
  PeerConnected: { readonly peerId: PeerId; readonly address: string }
  PeerDisconnected: { readonly peerId: PeerId }
  PeerBanned: { readonly peerId: PeerId; readonly untilMs: number; readonly offence: Offence }
  PeerForgotten: { readonly peerId: PeerId; readonly reason: "Stale" | "Evicted" | "Discredited" }
}>

/** Constructors and matchers of `PeerChange`. */
export const PeerChange = Data.taggedEnum<PeerChange>()

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

/** How this node has judged one peer, for a node's or a devnet's summary. */
export interface PeerOffenceCount {
  readonly peerId: PeerId
  /** Times this node banned it. */
  readonly bans: number
  /** Times this node penalised it for misbehaviour (faults — `Timeout`, `Unavailable` — do not count). */
  readonly penalties: number
  readonly lastOffence: Offence | undefined
}

// ---------------------------------------------------------------------------------------------------
// Operations' inputs and answers

/** What happened to one verified NodeInfo offered to the ledger. */
export type MergeOutcome =
  | "Inserted" // first NodeInfo of this peer
  | "Replaced" // newer than the one we had
  | "NotNewer" // same age or older than the one we have: ignored
  | "Ours" // our own: never stored
  | "Probation" // an introduced peer we did not know, kept on probation (not in the table) until confirmed

/** How a dial of a peer ended. */
export type DialResult = Data.TaggedEnum<{
  /** Connected at `address` after `rttMs` (one handshake round trip). */
  Connected: { readonly address: string; readonly rttMs: number }
  Failed: {}
}>

/** Constructors and matchers of `DialResult`. */
export const DialResult = Data.taggedEnum<DialResult>()

/** How a call to a connected peer ended. */
export type CallResult = Data.TaggedEnum<{
  /** It answered well, after `rttMs` if measured. */
  Answered: { readonly rttMs: number | undefined }
  /** It failed; `offence` is what the peer is charged with (`undefined`: not its fault). */
  Failed: { readonly offence: Offence | undefined }
}>

/** Constructors and matchers of `CallResult`. */
export const CallResult = Data.taggedEnum<CallResult>()

/** Why a peer is dialled. */
export type DialPurpose =
  | "Seed" // a seed or allowlisted peer, dialled because the node has no connection
  | "Fill" // to bring the connection count up to target
  | "Rotate" // exploration at target: the worst connection is dropped once this one is up
  | "Feeler" // tests an untested introduction (judging its introducer); dropped after one query if above target
  | "Learn" // a credible peer we are not connected to, asked once for its known peers; dropped after it if above target
  | "Confirm" // a probation entry several believed voices reported, dialled to prove it real (not queried); dropped if above target

/** One dial the caller must run (and report with `recordDialResult`). */
export interface DialOrder {
  readonly peerId: PeerId
  readonly address: string
  readonly purpose: DialPurpose
}

/** Inputs of a dial plan. */
export interface DialPlanRequest {
  /** Outbound connections open now (from the network). */
  readonly connectedCount: number
  readonly target: number
  /** Capability flags the node would like its peers to have. */
  readonly wanted: number
  /** Probability of one exploratory "Rotate" dial when at target. */
  readonly rotationProbability: number
  /** Seed of the ranking's jitter and the rotation's draw (from the caller's `Random`). */
  readonly seed: number
}

/** Inputs of a trim: which connections to drop to get down to `target`. */
export interface TrimRequest {
  /** The network's list of connections (the truth, not the ledger's view). */
  readonly connected: ReadonlyArray<PeerId>
  readonly target: number
  readonly wanted: number
  /** Never dropped (e.g. a connection just opened by rotation). */
  readonly keep: ReadonlySet<PeerId>
}

/** Which NodeInfos may be served to a peer that asks for our known peers. */
export interface ServableRequest {
  /** The asking peer (never served its own NodeInfo); `undefined` for a sample shared by all callers. */
  readonly exclude: PeerId | undefined
  /** Only NodeInfos with at least this much time left before they expire. */
  readonly minRemainingMs: number
  /** At most this many, best ranked by what this node observed first (never by the signer's timestamp). */
  readonly limit: number
}

/**
 * What to do with one entry of a peer's GetKnownPeers answer, decided before its signature is checked:
 * only `Refresh` and `New` entries are worth verifying.
 */
export type Admission =
  | "Refresh" // a known peer's newer NodeInfo
  | "New" // an unknown peer (or one on probation from another introducer), within the introducer's budget (now charged to it)
  | "OverBudget" // an unknown peer beyond the budget: dropped unverified
  | "Corroborates" // a peer on probation from another introducer, with the NodeInfo we verified: within the budget (charged), not re-verified
  | "NotNewer" // not newer than what we hold: nothing to do

// ---------------------------------------------------------------------------------------------------
// The service

export interface PeerManagerService {
  /** Our own PeerId (never stored in the table). */
  readonly localPeerId: PeerId
  /** The policy in force (penalties, bans, backoff, the NodeInfo time window). */
  readonly policy: PeerPolicy

  // --- reading -------------------------------------------------------------------------------------

  /** Every known peer with its metadata, now. */
  readonly snapshot: Effect.Effect<PeerSnapshot>
  /** One peer's record, if known. */
  readonly peer: (peerId: PeerId) => Effect.Effect<Option.Option<PeerView>>
  /** Whether the peer is banned now. */
  readonly isBanned: (peerId: PeerId) => Effect.Effect<boolean>
  /**
   * Subscribes now and gives the changes as a stream for as long as the scope lives. Changes come from a
   * bounded sliding PubSub: a subscriber more than `PEER_CHANGES_CAPACITY` changes behind loses the
   * oldest ones (the manager never waits for a subscriber) and can re-sync with `snapshot`.
   */
  readonly changes: Effect.Effect<Stream.Stream<PeerChange>, never, Scope.Scope>
  /**
   * Bans and misbehaviour penalties per peer this node has charged with any offence, by PeerId. Kept
   * with the peer's record: a peer the table forgets (stale and forgiven, or evicted) is forgotten here too.
   */
  readonly offenceCounts: Effect.Effect<ReadonlyArray<PeerOffenceCount>>
  /** For each NodeInfo, whether it is newer than the one held for its peer (only those can change the table). */
  readonly newerThanHeld: (infos: ReadonlyArray<SignedNodeInfo>) => Effect.Effect<ReadonlyArray<boolean>>
  /**
   * Decides, per entry of `introducer`'s answer, whether it is worth verifying (see `Admission`), and
   * charges the `New` ones to `introducer`'s introduction budget. The answer's own order counts: the
   * first entries use the budget first.
   */
  readonly admitIntroductions: (introducer: PeerId, infos: ReadonlyArray<SignedNodeInfo>) => Effect.Effect<ReadonlyArray<Admission>>
  /** NodeInfos that may be served: verified, of peers not banned, not about to expire, best observed first. */
  readonly servableNodeInfos: (request: ServableRequest) => Effect.Effect<ReadonlyArray<SignedNodeInfo>>
  /** The connections to drop to get down to `target`: the worst-ranked, never allowlisted or kept ones. */
  readonly planTrim: (request: TrimRequest) => Effect.Effect<ReadonlyArray<PeerId>>

  // --- recording -----------------------------------------------------------------------------------

  /** Penalises a peer for an offence (`detail` is logged); may ban it. */
  readonly reportOffence: (peerId: PeerId, offence: Offence, detail?: string) => Effect.Effect<void>
  /**
   * Stores verified NodeInfos (a newer one replaces an older one) and keeps the table within its cap.
   * Unknown peers introduced by `introducer` go on probation (bounded, never served or counted as known)
   * until a second, distinct introducer reports them or a dial of them succeeds; a peer's own NodeInfo
   * (no `introducer`) is stored at once.
   */
  readonly mergeNodeInfos: (infos: ReadonlyArray<SignedNodeInfo>, introducer?: PeerId) => Effect.Effect<ReadonlyArray<MergeOutcome>>
  /** Records how a call to a peer ended: success rate, RTT, backoff, and the offence if any. */
  readonly recordCallResult: (peerId: PeerId, result: CallResult) => Effect.Effect<void>
  /**
   * Records how a dial from `planDials` ended (a failure backs off and counts as `Unavailable`). A peer on
   * probation is promoted to the table when it connects, and dropped (charged to its introducer) when not.
   */
  readonly recordDialResult: (peerId: PeerId, result: DialResult) => Effect.Effect<void>
  /** The network reports a connection to `peerId` at `address`. */
  readonly recordConnected: (peerId: PeerId, address: string) => Effect.Effect<void>
  /** The network reports that the connection to `peerId` ended (the record is kept). */
  readonly recordDisconnected: (peerId: PeerId) => Effect.Effect<void>
  /**
   * Brings the ledger in line with the network's list of connections (events can be lost by a lagging
   * subscription) and answers the connected peers that are banned now, for the caller to hang up on.
   */
  readonly reconcileConnections: (connected: ReadonlyArray<PeerId>) => Effect.Effect<ReadonlyArray<PeerId>>
  /** Drops expired NodeInfos and forgets records left with nothing worth keeping; answers the forgotten peers. */
  readonly cullStale: Effect.Effect<ReadonlyArray<PeerId>>
  /**
   * Chooses this round's dials (seeds when isolated, the best-ranked eligible peers up to target — peers on
   * probation when the table has too few — and sometimes one rotation, now and then to a peer on
   * probation) and marks them as dialling, so that no other plan dials them again.
   */
  readonly planDials: (request: DialPlanRequest) => Effect.Effect<ReadonlyArray<DialOrder>>
}

/** Tag of the `PeerManager` service. */
export class PeerManager extends Context.Tag("soma-p2p/PeerManager")<PeerManager, PeerManagerService>() {}
