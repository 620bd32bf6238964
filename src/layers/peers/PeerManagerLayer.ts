/**
 * `PeerManagerLayer`: the `PeerManager` service — the node's one peer ledger — over one `PeerTable` in
 * a `SynchronizedRef`. Each named operation applies one pure rule of this folder (`table.ts`,
 * `connections.ts`, `ranking.ts`, `introductions.ts`, `probation.ts`) at the current `Clock` time; its changes are
 * published, in order, to a bounded sliding PubSub while the table is still locked (publishing never
 * waits), so subscribers see changes in the order they happened. Nothing that waits on the network ever runs under the lock.
 */
import { Clock, Effect, HashMap, Layer, Option, PubSub, Stream, SynchronizedRef, type Scope } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import {
  PeerManager,
  type CallResult,
  type DialResult,
  type Offence,
  type PeerChange,
  type PeerManagerService,
  type PeerPolicy,
  type PeerRecord,
  type PeerView
} from "../../services/PeerManager.js"
import { bannedConnections, dialFailed, dialSucceeded, peerConnected, peerDisconnected, planDials, reconcileConnections } from "./connections.js"
import { admitIntroductions } from "./introductions.js"
import { defaultPeerPolicy, PEER_CHANGES_CAPACITY } from "./policy.js"
import { seededRng } from "./prng.js"
import { chooseTrim, servableNodeInfos, sortedRecords } from "./ranking.js"
import { decayedScore, isBannedAt } from "./reputation.js"
import {
  cullStale,
  emptyTable,
  isNewerThanHeld,
  mergeNodeInfos,
  offenceCounts,
  recordCallFailure,
  recordCallSuccess,
  recordOf,
  reportOffence,
  withConfiguredPeers,
  type ConfiguredPeer,
  type PeerTable,
  type Transition
} from "./table.js"

/** Configuration of the peer manager. */
export interface PeerManagerConfig {
  readonly localPeerId: PeerId
  /** Dialled at start and whenever the node has no connection. A seed must name its PeerId (Soma panicked without one). */
  readonly seeds?: ReadonlyArray<{ readonly peerId: PeerId; readonly address: string }>
  /** Ranked first when dialling, dialled when isolated, never dropped for rotation. */
  readonly allowlisted?: ReadonlyArray<ConfiguredPeer>
  readonly policy?: Partial<PeerPolicy>
}

/** A record as seen at `nowMs`. */
export const viewOf = (record: PeerRecord, nowMs: number, policy: PeerPolicy): PeerView => ({
  ...record,
  currentScore: decayedScore(record, nowMs, policy),
  banned: isBannedAt(record, nowMs)
})

/** Builds the service in the current scope. */
export const makePeerManager = (config: PeerManagerConfig): Effect.Effect<PeerManagerService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const policy: PeerPolicy = { ...defaultPeerPolicy, ...config.policy }
    const initial = withConfiguredPeers(emptyTable(config.localPeerId, policy), config.seeds ?? [], config.allowlisted ?? [])
    const state = yield* SynchronizedRef.make<PeerTable>(initial)
    const changes = yield* Effect.acquireRelease(PubSub.sliding<PeerChange>(PEER_CHANGES_CAPACITY), PubSub.shutdown)

    /** Applies a pure transition atomically at the current time and publishes its changes. */
    const apply = <A>(f: (table: PeerTable, nowMs: number) => Transition<A>): Effect.Effect<A> =>
      SynchronizedRef.modifyEffect(state, (table) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          const step = f(table, nowMs)
          const publish = step.changes.length === 0 ? Effect.void : Effect.asVoid(PubSub.publishAll(changes, step.changes))
          return Effect.as(publish, [step.value, step.table] as const)
        })
      )

    /** Reads the table at the current time. */
    const read = <A>(f: (table: PeerTable, nowMs: number) => A): Effect.Effect<A> =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => Effect.map(SynchronizedRef.get(state), (table) => f(table, nowMs)))

    const reportOffenceOp = (peerId: PeerId, offence: Offence, detail?: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const banned = yield* apply((table, nowMs) => reportOffence(table, peerId, offence, nowMs))
        const what = `peer ${peerId.slice(0, 8)}: ${offence}${detail === undefined ? "" : ` (${detail})`}`
        yield* banned ? Effect.logWarning(`${what}; banned`) : Effect.logDebug(what)
      })

    const recordCallResult = (peerId: PeerId, result: CallResult): Effect.Effect<void> =>
      result._tag === "Answered"
        ? apply((table) => recordCallSuccess(table, peerId, result.rttMs))
        : Effect.asVoid(apply((table, nowMs) => recordCallFailure(table, peerId, result.offence, nowMs)))

    const recordDialResult = (peerId: PeerId, result: DialResult): Effect.Effect<void> =>
      result._tag === "Connected"
        ? apply((table, nowMs) => dialSucceeded(table, peerId, result.address, result.rttMs, nowMs))
        : Effect.asVoid(apply((table, nowMs) => dialFailed(table, peerId, nowMs)))

    return {
      localPeerId: config.localPeerId,
      policy,
      snapshot: read((table, nowMs) => {
        const known = sortedRecords(table).map((r) => viewOf(r, nowMs, table.policy))
        return { atMs: nowMs, known, connected: known.filter((v) => v.connection._tag === "Connected") }
      }),
      peer: (peerId) => read((table, nowMs) => Option.map(HashMap.get(table.peers, peerId), (r) => viewOf(r, nowMs, table.policy))),
      isBanned: (peerId) => read((table, nowMs) => Option.exists(Option.fromNullable(recordOf(table, peerId)), (r) => isBannedAt(r, nowMs))),
      changes: Stream.fromPubSub(changes, { scoped: true }),
      offenceCounts: read(offenceCounts),
      newerThanHeld: (infos) => read((table) => infos.map((signed) => isNewerThanHeld(table, signed))),
      admitIntroductions: (introducer, infos) => apply((table, nowMs) => admitIntroductions(table, introducer, infos, nowMs)),
      servableNodeInfos: (request) => read((table, nowMs) => servableNodeInfos(table, nowMs, request)),
      planTrim: ({ connected, target, wanted, keep }) => read((table, nowMs) => chooseTrim(table, nowMs, connected, target, wanted, keep)),
      reportOffence: reportOffenceOp,
      mergeNodeInfos: (infos, introducer) => apply((table, nowMs) => mergeNodeInfos(table, infos, nowMs, introducer)),
      recordCallResult,
      recordDialResult,
      recordConnected: (peerId, address) => apply((table, nowMs) => peerConnected(table, peerId, address, nowMs)),
      recordDisconnected: (peerId) => apply((table, nowMs) => peerDisconnected(table, peerId, nowMs)),
      reconcileConnections: (connected) =>
        apply((table, nowMs) => {
          const reconciled = reconcileConnections(table, connected, nowMs)
          return { ...reconciled, value: bannedConnections(reconciled.table, nowMs) }
        }),
      cullStale: apply(cullStale),
      planDials: ({ seed, ...request }) => apply((table, nowMs) => planDials(table, nowMs, { ...request, rng: seededRng(seed) }))
    } satisfies PeerManagerService
  })

/** The `PeerManager` service. */
export const PeerManagerLayer = (config: PeerManagerConfig): Layer.Layer<PeerManager> => Layer.scoped(PeerManager, makePeerManager(config))
