/**
 * `DiscoveryLayer`: the `Discovery` service. In its scope it registers the `GetKnownPeers` handler,
 * follows the network's peer events (and the manager's bans, to hang up on banned peers at once), and
 * forks the discovery loop. Closing the scope interrupts the loop, every dial in flight and both
 * followers, and unregisters the handler.
 *
 * Time comes from `Clock` and randomness from the `Random` in context when the layer is built, so a
 * simulation under a test clock and a seeded `Random` is reproducible.
 */
import { Clock, Effect, FiberSet, Layer, Ref, Stream, type Scope } from "effect"
import { nodeInfoSigningMessage, type NodeInfo, type NodeRole, type SignedNodeInfo } from "../../domain/nodeInfo.js"
import { MAX_ADDRESS_BYTES, MAX_NODE_ADDRESSES } from "../../domain/limits.js"
import { peerIdFromPublicKey } from "../../domain/PeerId.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import { Crypto, type Ed25519Keypair } from "../../services/Crypto.js"
import { Discovery, InvalidDiscoveryConfig, type DiscoveryService } from "../../services/Discovery.js"
import { Network, PeerEvent } from "../../services/Network.js"
import { PeerChange, PeerManager } from "../../services/PeerManager.js"
import { defaultDiscoveryTuning, type DiscoveryTuning } from "./config.js"
import { makeDiscoveryLoop, supervised } from "./loop.js"
import { makeKnownPeersHandler } from "./server.js"

/** Configuration of discovery: who we are, what we advertise, and the loop's knobs (defaults in `config.ts`). */
export interface DiscoveryConfig extends Partial<DiscoveryTuning> {
  /** The network key pair; its public key must be the network's PeerId. */
  readonly keypair: Ed25519Keypair
  /** Where others can dial us (≤ 4, each ≤ 256 bytes). */
  readonly addresses: ReadonlyArray<string>
  readonly role: NodeRole
  /** Capability flags we advertise (`Capability`). */
  readonly capabilities: number
  /** Capability flags to prefer when dialling (default: none). */
  readonly preferCapabilities?: number
}

const utf8Length = (text: string): number => new TextEncoder().encode(text).length

/** Why a configuration cannot work, if it cannot. */
export const checkDiscoveryConfig = (config: DiscoveryConfig, tuning: DiscoveryTuning): string | undefined => {
  if (config.addresses.length > MAX_NODE_ADDRESSES) return `at most ${MAX_NODE_ADDRESSES} addresses, got ${config.addresses.length}`
  const long = config.addresses.find((a) => utf8Length(a) > MAX_ADDRESS_BYTES)
  if (long !== undefined) return `address longer than ${MAX_ADDRESS_BYTES} bytes: ${long.slice(0, 40)}…`
  for (const [name, value] of Object.entries(tuning)) {
    const ok = name === "rotationProbability" ? value >= 0 && value <= 1 : Number.isInteger(value) && value > 0
    if (!ok) return `${name} must be ${name === "rotationProbability" ? "in [0, 1]" : "a positive integer"}, got ${value}`
  }
  return undefined
}

/** Builds the service in the current scope. */
export const makeDiscovery = (
  config: DiscoveryConfig
): Effect.Effect<DiscoveryService, InvalidDiscoveryConfig, Network | PeerManager | Crypto | Scope.Scope> =>
  Effect.gen(function* () {
    const network = yield* Network
    const manager = yield* PeerManager
    const crypto = yield* Crypto
    const random = yield* Effect.random
    const tuning: DiscoveryTuning = {
      tickMs: config.tickMs ?? defaultDiscoveryTuning.tickMs,
      peersToQuery: config.peersToQuery ?? defaultDiscoveryTuning.peersToQuery,
      targetConnections: config.targetConnections ?? defaultDiscoveryTuning.targetConnections,
      queryTimeoutMs: config.queryTimeoutMs ?? defaultDiscoveryTuning.queryTimeoutMs,
      maxEntriesPerResponse: config.maxEntriesPerResponse ?? defaultDiscoveryTuning.maxEntriesPerResponse,
      maxPeersToSend: config.maxPeersToSend ?? defaultDiscoveryTuning.maxPeersToSend,
      rotationProbability: config.rotationProbability ?? defaultDiscoveryTuning.rotationProbability
    }
    const problem = checkDiscoveryConfig(config, tuning)
    if (problem !== undefined) return yield* Effect.fail(new InvalidDiscoveryConfig({ detail: problem }))
    if (config.keypair.publicKey.length !== 32) return yield* Effect.fail(new InvalidDiscoveryConfig({ detail: "the network public key is not 32 bytes" }))
    const self = peerIdFromPublicKey(config.keypair.publicKey)
    if (self !== network.localPeerId || self !== manager.localPeerId) {
      return yield* Effect.fail(new InvalidDiscoveryConfig({ detail: "the key pair is not the network's (or the peer manager's) identity" }))
    }

    const sign: Effect.Effect<SignedNodeInfo> = Effect.gen(function* () {
      const info: NodeInfo = {
        peerId: self,
        addresses: config.addresses,
        timestampMs: yield* Clock.currentTimeMillis,
        role: config.role,
        capabilities: config.capabilities
      }
      return { info, signature: yield* crypto.sign(config.keypair, nodeInfoSigningMessage(info)) }
    })
    const own = yield* Ref.make(yield* sign)
    const wanted = yield* Ref.make(config.preferCapabilities ?? 0)
    const rounds = yield* Ref.make(0)
    const dials = yield* FiberSet.make<void, never>()

    yield* network.handleUnary(
      P2pMethods.GetKnownPeers,
      makeKnownPeersHandler({ manager, crypto, random, ownInfo: Ref.get(own), maxPeersToSend: tuning.maxPeersToSend })
    )

    // Subscribe before the loop starts, so no connection event is missed.
    const peerEvents = yield* network.peerEvents
    const bans = yield* manager.changes
    yield* Effect.forkScoped(
      Stream.runForEach(
        peerEvents,
        (event) =>
          supervised("peer event")(
            PeerEvent.$match(event, {
              PeerConnected: ({ peerId, address }) => manager.recordConnected(peerId, address),
              PeerDisconnected: ({ peerId }) => manager.recordDisconnected(peerId)
            })
          )
      )
    )
    yield* Effect.forkScoped(
      Stream.runForEach(Stream.filter(bans, PeerChange.$is("PeerBanned")), ({ peerId }) => supervised("hang up")(network.hangUp(peerId)))
    )

    const loop = makeDiscoveryLoop({
      network,
      manager,
      crypto,
      random,
      tuning,
      ownInfo: Ref.get(own),
      resign: Effect.tap(sign, (signed) => Ref.set(own, signed)),
      wanted: Ref.get(wanted),
      dials,
      rounds
    })
    yield* Effect.forkScoped(loop.run)

    return {
      ownInfo: Ref.get(own),
      snapshot: manager.snapshot,
      changes: manager.changes,
      preferCapabilities: (capabilities) => Ref.set(wanted, capabilities),
      rounds: Ref.get(rounds)
    } satisfies DiscoveryService
  })

/** The `Discovery` service: needs `Network`, `PeerManager` and `Crypto`. */
export const DiscoveryLayer = (config: DiscoveryConfig): Layer.Layer<Discovery, InvalidDiscoveryConfig, Network | PeerManager | Crypto> =>
  Layer.scoped(Discovery, makeDiscovery(config))
