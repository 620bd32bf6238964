/**
 * `PeerManagerLayer`: the `PeerManager` service over one `PeerTable` in a `SynchronizedRef`. Every
 * change is a pure transition applied at the current `Clock` time; its changes are published, in
 * order, to a bounded sliding PubSub while the table is still locked (publishing never waits), so
 * subscribers see changes in the order they happened. Nothing that waits on the network ever runs
 * under the lock.
 */
import { Clock, Effect, HashMap, Layer, Option, PubSub, Stream, SynchronizedRef, type Scope } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import {
  PeerManager,
  type Offence,
  type PeerChange,
  type PeerManagerService,
  type PeerPolicy,
  type PeerRecord,
  type PeerTable,
  type PeerView,
  type Transition
} from "../../services/PeerManager.js"
import { defaultPeerPolicy, PEER_CHANGES_CAPACITY } from "./config.js"
import { emptyTable, recordCallSuccess, recordOf, reportOffence, withConfiguredPeers, type ConfiguredPeer } from "./peerTable.js"
import { sortedRecords } from "./ranking.js"
import { decayedScore, isBannedAt } from "./reputation.js"

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

    const transition = <A>(f: (table: PeerTable, nowMs: number) => Transition<A>): Effect.Effect<A> =>
      SynchronizedRef.modifyEffect(state, (table) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          const step = f(table, nowMs)
          const publish = step.changes.length === 0 ? Effect.void : Effect.asVoid(PubSub.publishAll(changes, step.changes))
          return Effect.as(publish, [step.value, step.table] as const)
        })
      )

    const read = <A>(f: (table: PeerTable, nowMs: number) => A): Effect.Effect<A> =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => Effect.map(SynchronizedRef.get(state), (table) => f(table, nowMs)))

    const reportMisbehaviour = (peerId: PeerId, offence: Offence, detail?: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const banned = yield* transition((table, nowMs) => reportOffence(table, peerId, offence, nowMs))
        const what = `peer ${peerId.slice(0, 8)}: ${offence}${detail === undefined ? "" : ` (${detail})`}`
        yield* banned ? Effect.logWarning(`${what}; banned`) : Effect.logDebug(what)
      })

    return {
      localPeerId: config.localPeerId,
      snapshot: read((table, nowMs) => {
        const known = sortedRecords(table).map((r) => viewOf(r, nowMs, table.policy))
        return { atMs: nowMs, known, connected: known.filter((v) => v.connection._tag === "Connected") }
      }),
      peer: (peerId) => read((table, nowMs) => Option.map(HashMap.get(table.peers, peerId), (r) => viewOf(r, nowMs, table.policy))),
      changes: Stream.fromPubSub(changes, { scoped: true }),
      reportMisbehaviour,
      isBanned: (peerId) => read((table, nowMs) => Option.exists(Option.fromNullable(recordOf(table, peerId)), (r) => isBannedAt(r, nowMs))),
      recordSuccess: (peerId, rttMs) => transition((table) => recordCallSuccess(table, peerId, rttMs)),
      transition
    } satisfies PeerManagerService
  })

/** The `PeerManager` service. */
export const PeerManagerLayer = (config: PeerManagerConfig): Layer.Layer<PeerManager> => Layer.scoped(PeerManager, makePeerManager(config))
