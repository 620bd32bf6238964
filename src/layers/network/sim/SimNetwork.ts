/**
 * `SimNetwork`: the simulated world that many `SimNetworkLayer` nodes attach to, once per simulation.
 * It owns the connections between nodes, the network conditions (latency, loss, partitions, slow and
 * faulty peers), a seeded PRNG, and a bounded trace of what happened. Time is Effect's `Clock`, so a
 * run under `TestClock` with a given seed is deterministic: same seed, same trace.
 *
 * Messages are bytes with a size; a message is delivered after its link's latency (times the peers'
 * latency multipliers) plus its transfer time on the sender's upload, or lost — a lost message stalls
 * its call until its deadline, which is how a broken path looks to gRPC. Connections across a
 * partition break after the keepalive would notice (`KEEPALIVE_TIME_MS + KEEPALIVE_TIMEOUT_MS`).
 */
import { Chunk, Clock, Context, Deferred, Duration, Effect, FiberSet, HashMap, HashSet, Layer, Option, PubSub, Random, Ref, type Scope } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"
import { PeerAuthenticationFailed, PeerEvent, PeerUnavailable, type DialError, type DisconnectReason } from "../../../services/Network.js"
import type { InboundRouter } from "../inbound.js"
import { CONNECT_TIMEOUT_MS, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from "../limits.js"
import {
  arrivalTime,
  linkBetween,
  linkKey,
  NORMAL_PEER,
  partitioned,
  partitionOf,
  peerConditions,
  type Conditions,
  type LinkConditions,
  type PeerConditions
} from "./conditions.js"

/** Default link: 10 ms one way, no loss (a LAN-ish round trip of 20 ms). */
export const DEFAULT_LINK: LinkConditions = { latencyMs: 10, lossProbability: 0 }
/** Trace entries kept; older ones are dropped so a long simulation stays in bounded memory. */
export const DEFAULT_TRACE_CAPACITY = 10_000
/** Size charged for a connection handshake message (a TLS 1.3 flight with a certificate). */
const HANDSHAKE_BYTES = 1_024
/** How long after a partition the connections across it are declared lost (keepalive detection). */
const PARTITION_DETECTION_MS = KEEPALIVE_TIME_MS + KEEPALIVE_TIMEOUT_MS

/** Configuration of a simulated world. */
export interface SimNetworkConfig {
  /** Seed of the world's PRNG (message loss). */
  readonly seed: number | string
  readonly defaultLink?: LinkConditions
  readonly traceCapacity?: number
}

/** One thing that happened in the world, for assertions and determinism checks. */
export type SimTraceEvent =
  | { readonly kind: "connected"; readonly atMs: number; readonly from: PeerId; readonly to: PeerId }
  | { readonly kind: "disconnected"; readonly atMs: number; readonly from: PeerId; readonly to: PeerId; readonly reason: DisconnectReason }
  | {
      readonly kind: "sent"
      readonly atMs: number
      readonly from: PeerId
      readonly to: PeerId
      readonly path: string
      readonly bytes: number
      readonly arriveAtMs: number
    }
  | {
      readonly kind: "lost"
      readonly atMs: number
      readonly from: PeerId
      readonly to: PeerId
      readonly path: string
      readonly bytes: number
      readonly cause: "loss" | "partition"
    }
  | { readonly kind: "partitioned"; readonly atMs: number; readonly groups: ReadonlyArray<ReadonlyArray<PeerId>> }
  | { readonly kind: "healed"; readonly atMs: number }

/** A node attached to the world. */
export interface SimNode {
  readonly peerId: PeerId
  readonly address: string
  readonly router: InboundRouter
  readonly events: PubSub.PubSub<PeerEvent>
}

/** A connection from `from` (the dialler, who can call) to `to`. `closed` completes when it ends. */
export interface SimConnection {
  readonly id: number
  readonly from: PeerId
  readonly to: PeerId
  readonly closed: Deferred.Deferred<DisconnectReason>
}

interface WorldState {
  readonly conditions: Conditions
  readonly nodes: HashMap.HashMap<PeerId, SimNode>
  readonly addresses: HashMap.HashMap<string, PeerId>
  /** Keyed by `from>to`. */
  readonly connections: HashMap.HashMap<string, SimConnection>
  /** The peers each node has dialled (an index of `connections`: `connectedFrom` is asked often, by every node). */
  readonly outgoing: HashMap.HashMap<PeerId, HashSet.HashSet<PeerId>>
  readonly uploadBusyUntilMs: HashMap.HashMap<PeerId, number>
  readonly nextConnectionId: number
}

const connectionKey = (from: PeerId, to: PeerId) => `${from}>${to}`

/** `outgoing` with `from`'s set of dialled peers changed by `f` (an empty set is removed). */
const withOutgoing = (
  outgoing: HashMap.HashMap<PeerId, HashSet.HashSet<PeerId>>,
  from: PeerId,
  f: (dialled: HashSet.HashSet<PeerId>) => HashSet.HashSet<PeerId>
): HashMap.HashMap<PeerId, HashSet.HashSet<PeerId>> => {
  const next = f(Option.getOrElse(HashMap.get(outgoing, from), () => HashSet.empty<PeerId>()))
  return HashSet.size(next) === 0 ? HashMap.remove(outgoing, from) : HashMap.set(outgoing, from, next)
}

export interface SimNetworkService {
  // --- controls, for simulations and tests ---
  /** Conditions of every link without an override. */
  readonly setDefaultLink: (link: LinkConditions) => Effect.Effect<void>
  /** Conditions of the link between `a` and `b` (both directions). */
  readonly setLink: (a: PeerId, b: PeerId, link: LinkConditions) => Effect.Effect<void>
  /** Makes a peer slow or faulty (fields not given keep their value). */
  readonly setPeerConditions: (peerId: PeerId, conditions: Partial<PeerConditions>) => Effect.Effect<void>
  /** Cuts the world: each group apart from the others and from every unlisted peer. Replaces any partition. */
  readonly partition: (groups: ReadonlyArray<ReadonlyArray<PeerId>>) => Effect.Effect<void>
  /** Ends the partition. */
  readonly heal: Effect.Effect<void>
  /** Breaks the connection `from` → `to` now (`ConnectionLost` on the dialler's side). */
  readonly breakConnection: (from: PeerId, to: PeerId) => Effect.Effect<void>
  /** What happened so far (the last `traceCapacity` events). */
  readonly trace: Effect.Effect<ReadonlyArray<SimTraceEvent>>

  // --- used by SimNetworkLayer ---
  /** Attaches a node until the scope closes; then its connections end (Shutdown for its own). */
  readonly attach: (node: SimNode) => Effect.Effect<void, never, Scope.Scope>
  /** Opens a connection `from` → the node at `address`, which must be `to`. */
  readonly connect: (from: PeerId, to: PeerId, address: string) => Effect.Effect<SimConnection, DialError>
  /** Ends a connection (no-op if it already ended). */
  readonly disconnect: (connection: SimConnection, reason: DisconnectReason) => Effect.Effect<void>
  /** The open connection `from` → `to`. */
  readonly connection: (from: PeerId, to: PeerId) => Effect.Effect<Option.Option<SimConnection>>
  /** The peers `from` holds connections to. */
  readonly connectedFrom: (from: PeerId) => Effect.Effect<ReadonlyArray<PeerId>>
  /** An attached node. */
  readonly node: (peerId: PeerId) => Effect.Effect<Option.Option<SimNode>>
  /** The conditions of a peer now. */
  readonly peerConditions: (peerId: PeerId) => Effect.Effect<PeerConditions>
  /**
   * Sends a message: returns when it will arrive, or never returns if it is lost. Arrival times of
   * one sender's messages never decrease, so a stream stays in order.
   */
  readonly send: (from: PeerId, to: PeerId, path: string, bytes: number) => Effect.Effect<number>
}

/** Waits until the clock reads `atMs`. */
export const sleepUntil = (atMs: number): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => (atMs > now ? Effect.sleep(Duration.millis(atMs - now)) : Effect.void))

/** Builds a world in the current scope. */
export const makeSimNetwork = (config: SimNetworkConfig): Effect.Effect<SimNetworkService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const rng = Random.make(config.seed)
    const traceCapacity = config.traceCapacity ?? DEFAULT_TRACE_CAPACITY
    const detectors = yield* FiberSet.make<void>()
    const state = yield* Ref.make<WorldState>({
      conditions: { defaultLink: config.defaultLink ?? DEFAULT_LINK, links: HashMap.empty(), peers: HashMap.empty(), partition: undefined },
      nodes: HashMap.empty(),
      addresses: HashMap.empty(),
      connections: HashMap.empty(),
      outgoing: HashMap.empty(),
      uploadBusyUntilMs: HashMap.empty(),
      nextConnectionId: 1
    })
    const traceRef = yield* Ref.make(Chunk.empty<SimTraceEvent>())
    const record = (event: SimTraceEvent) =>
      Ref.update(traceRef, (trace) => {
        const next = Chunk.append(trace, event)
        return Chunk.size(next) > traceCapacity ? Chunk.drop(next, 1) : next
      })
    const updateConditions = (f: (conditions: Conditions) => Conditions) =>
      Ref.update(state, (s) => ({ ...s, conditions: f(s.conditions) }))

    const publishTo = (peerId: PeerId, event: PeerEvent): Effect.Effect<void> =>
      Effect.flatMap(Ref.get(state), (s) =>
        Option.match(HashMap.get(s.nodes, peerId), {
          onNone: () => Effect.void,
          onSome: (node) => Effect.asVoid(PubSub.publish(node.events, event))
        })
      )

    const disconnect = (connection: SimConnection, reason: DisconnectReason): Effect.Effect<void> =>
      Effect.gen(function* () {
        const key = connectionKey(connection.from, connection.to)
        const removed = yield* Ref.modify(state, (s) =>
          Option.exists(HashMap.get(s.connections, key), (open) => open.id === connection.id)
            ? [true, { ...s, connections: HashMap.remove(s.connections, key), outgoing: withOutgoing(s.outgoing, connection.from, (to) => HashSet.remove(to, connection.to)) }]
            : [false, s]
        )
        if (!removed) return
        yield* Deferred.succeed(connection.closed, reason)
        yield* publishTo(connection.from, PeerEvent.PeerDisconnected({ peerId: connection.to, reason }))
        yield* record({ kind: "disconnected", atMs: yield* Clock.currentTimeMillis, from: connection.from, to: connection.to, reason })
      })

    const send = (from: PeerId, to: PeerId, path: string, bytes: number) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const roll = yield* rng.next // drawn for every message, so the sequence does not depend on conditions
        const outcome = yield* Ref.modify(state, (s): readonly [{ readonly lost: "loss" | "partition" } | { readonly arriveAtMs: number }, WorldState] => {
          if (partitioned(s.conditions, from, to)) return [{ lost: "partition" }, s]
          if (roll < linkBetween(s.conditions, from, to).lossProbability) return [{ lost: "loss" }, s]
          const busy = Option.getOrElse(HashMap.get(s.uploadBusyUntilMs, from), () => 0)
          const { arriveAtMs, uploadBusyUntilMs } = arrivalTime(s.conditions, from, to, bytes, now, busy)
          return [{ arriveAtMs }, { ...s, uploadBusyUntilMs: HashMap.set(s.uploadBusyUntilMs, from, uploadBusyUntilMs) }]
        })
        if ("lost" in outcome) {
          yield* record({ kind: "lost", atMs: now, from, to, path, bytes, cause: outcome.lost })
          return yield* Effect.never
        }
        yield* record({ kind: "sent", atMs: now, from, to, path, bytes, arriveAtMs: outcome.arriveAtMs })
        return outcome.arriveAtMs
      })

    const connect = (from: PeerId, to: PeerId, address: string): Effect.Effect<SimConnection, DialError> =>
      Effect.gen(function* () {
        const target = HashMap.get((yield* Ref.get(state)).addresses, address)
        if (Option.isNone(target)) {
          return yield* Effect.fail(new PeerUnavailable({ peerId: to, reason: "Unreachable", detail: `nobody listens at ${address}` }))
        }
        // The handshake is one round trip that can be lost or cut like any message.
        yield* send(from, target.value, "(handshake)", HANDSHAKE_BYTES).pipe(
          Effect.flatMap(sleepUntil),
          Effect.zipRight(send(target.value, from, "(handshake)", HANDSHAKE_BYTES)),
          Effect.flatMap(sleepUntil),
          Effect.timeoutFail({
            duration: Duration.millis(CONNECT_TIMEOUT_MS),
            onTimeout: () => new PeerUnavailable({ peerId: to, reason: "Unreachable", detail: `no connection to ${address} within ${CONNECT_TIMEOUT_MS} ms` })
          })
        )
        if (target.value !== to) {
          return yield* Effect.fail(new PeerAuthenticationFailed({ peerId: to, address, detail: `the node at ${address} is ${target.value}` }))
        }
        const closed = yield* Deferred.make<DisconnectReason>()
        const [connection, created] = yield* Ref.modify(state, (s): readonly [readonly [SimConnection | undefined, boolean], WorldState] => {
          if (!HashMap.has(s.nodes, to)) return [[undefined, false], s]
          const existing = HashMap.get(s.connections, connectionKey(from, to))
          if (Option.isSome(existing)) return [[existing.value, false], s]
          const fresh: SimConnection = { id: s.nextConnectionId, from, to, closed }
          return [
            [fresh, true],
            {
              ...s,
              connections: HashMap.set(s.connections, connectionKey(from, to), fresh),
              outgoing: withOutgoing(s.outgoing, from, (dialled) => HashSet.add(dialled, to)),
              nextConnectionId: s.nextConnectionId + 1
            }
          ]
        })
        if (connection === undefined) {
          return yield* Effect.fail(new PeerUnavailable({ peerId: to, reason: "Unreachable", detail: `${address} went away during the handshake` }))
        }
        if (created) {
          yield* publishTo(from, PeerEvent.PeerConnected({ peerId: to, address }))
          yield* record({ kind: "connected", atMs: yield* Clock.currentTimeMillis, from, to })
        }
        return connection
      })

    const connectionsWhere = (predicate: (connection: SimConnection, s: WorldState) => boolean) =>
      Effect.map(Ref.get(state), (s) => Array.from(HashMap.values(s.connections)).filter((c) => predicate(c, s)).sort((a, b) => a.id - b.id))

    const attach = (node: SimNode) =>
      Effect.acquireRelease(
        Ref.modify(state, (s) =>
          HashMap.has(s.nodes, node.peerId) || HashMap.has(s.addresses, node.address)
            ? [false, s]
            : [true, { ...s, nodes: HashMap.set(s.nodes, node.peerId, node), addresses: HashMap.set(s.addresses, node.address, node.peerId) }]
        ).pipe(Effect.flatMap((ok) => (ok ? Effect.void : Effect.dieMessage(`a node ${node.peerId} or address ${node.address} is already attached`)))),
        () =>
          Effect.gen(function* () {
            const touching = yield* connectionsWhere((c) => c.from === node.peerId || c.to === node.peerId)
            yield* Effect.forEach(touching, (c) => disconnect(c, c.from === node.peerId ? "Shutdown" : "ConnectionLost"), { discard: true })
            yield* Ref.update(state, (s) => ({ ...s, nodes: HashMap.remove(s.nodes, node.peerId), addresses: HashMap.remove(s.addresses, node.address) }))
          })
      )

    const partition = (groups: ReadonlyArray<ReadonlyArray<PeerId>>) =>
      Effect.gen(function* () {
        yield* updateConditions((c) => ({ ...c, partition: partitionOf(groups) }))
        yield* record({ kind: "partitioned", atMs: yield* Clock.currentTimeMillis, groups })
        // Keepalive notices the cut after a while: then connections still across it break.
        yield* FiberSet.run(
          detectors,
          Effect.sleep(Duration.millis(PARTITION_DETECTION_MS)).pipe(
            Effect.zipRight(connectionsWhere((c, s) => partitioned(s.conditions, c.from, c.to))),
            Effect.flatMap((cut) => Effect.forEach(cut, (c) => disconnect(c, "ConnectionLost"), { discard: true }))
          )
        )
      })

    return {
      setDefaultLink: (link) => updateConditions((c) => ({ ...c, defaultLink: link })),
      setLink: (a, b, link) => updateConditions((c) => ({ ...c, links: HashMap.set(c.links, linkKey(a, b), link) })),
      setPeerConditions: (peerId, changes) =>
        updateConditions((c) => ({ ...c, peers: HashMap.set(c.peers, peerId, { ...peerConditions(c, peerId), ...changes }) })),
      partition,
      heal: Effect.gen(function* () {
        yield* updateConditions((c) => ({ ...c, partition: undefined }))
        yield* record({ kind: "healed", atMs: yield* Clock.currentTimeMillis })
      }),
      breakConnection: (from, to) =>
        Effect.flatMap(Ref.get(state), (s) =>
          Option.match(HashMap.get(s.connections, connectionKey(from, to)), {
            onNone: () => Effect.void,
            onSome: (c) => disconnect(c, "ConnectionLost")
          })
        ),
      trace: Effect.map(Ref.get(traceRef), Chunk.toReadonlyArray),
      attach,
      connect,
      disconnect,
      connection: (from, to) => Effect.map(Ref.get(state), (s) => HashMap.get(s.connections, connectionKey(from, to))),
      connectedFrom: (from) =>
        Effect.map(Ref.get(state), (s) => Option.match(HashMap.get(s.outgoing, from), { onNone: () => [], onSome: (dialled) => Array.from(dialled).sort() })),
      node: (peerId) => Effect.map(Ref.get(state), (s) => HashMap.get(s.nodes, peerId)),
      peerConditions: (peerId) => Effect.map(Ref.get(state), (s) => Option.getOrElse(HashMap.get(s.conditions.peers, peerId), () => NORMAL_PEER)),
      send
    } satisfies SimNetworkService
  })

/** Tag of the simulated world, shared by every node of one simulation. */
export class SimNetwork extends Context.Tag("soma-p2p/SimNetwork")<SimNetwork, SimNetworkService>() {
  /** A fresh world with its own seed. */
  static layer = (config: SimNetworkConfig): Layer.Layer<SimNetwork> => Layer.scoped(SimNetwork, makeSimNetwork(config))
}
