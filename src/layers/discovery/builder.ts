/**
 * Builds what the discovery fibers share, from a `DiscoveryConfig`: the knobs (defaults from
 * `constants.ts`), the checked configuration (our own NodeInfo within the limits, the key pair the
 * network's and the ledger's identity), our signed NodeInfo and how to re-sign it, the capability
 * preference, the round counter, the set the dial fibers run in, and the served sample (ranked at most
 * once a second). Nothing runs yet: `server.ts`, `workers.ts` and `loop.ts` start the handler and the
 * fibers over this.
 *
 * Time comes from `Clock` and randomness from the `Random` in context when the layer is built, so a
 * simulation under a test clock and a seeded `Random` is reproducible.
 */
import { Clock, Effect, FiberSet, Ref, type Random, type Scope } from "effect"
import { MAX_ADDRESS_BYTES, MAX_NODE_ADDRESSES } from "../../domain/limits.js"
import { nodeInfoSigningMessage, type NodeInfo, type NodeRole, type SignedNodeInfo } from "../../domain/nodeInfo.js"
import { peerIdFromPublicKey } from "../../domain/PeerId.js"
import { Crypto, type CryptoService, type Ed25519Keypair } from "../../services/Crypto.js"
import { InvalidDiscoveryConfig } from "../../services/Discovery.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { PeerManager, type PeerManagerService } from "../../services/PeerManager.js"
import { defaultDiscoveryTuning, SERVE_SAMPLE_MAX_AGE_MS, type DiscoveryTuning } from "./constants.js"
import { servableRequest } from "./plan/serve.js"
import { makeServedSample, type ServedSample } from "./servedSample.js"

/** Configuration of discovery: who we are, what we advertise, and the knobs (defaults in `constants.ts`). */
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

/** Everything the discovery fibers share. */
export interface DiscoveryRuntime {
  readonly network: NetworkService
  /** The peer ledger: every decision about peers is one of its named operations. */
  readonly manager: PeerManagerService
  readonly crypto: CryptoService
  readonly random: Random.Random
  readonly tuning: DiscoveryTuning
  /** Our current signed NodeInfo. */
  readonly ownInfo: Effect.Effect<SignedNodeInfo>
  /** Signs a fresh NodeInfo and makes it the current one. */
  readonly resign: Effect.Effect<SignedNodeInfo>
  /** Capability flags to prefer when dialling (`Discovery.preferCapabilities` sets them). */
  readonly wanted: Ref.Ref<number>
  /** Rounds completed (`Discovery.rounds`). */
  readonly rounds: Ref.Ref<number>
  /** Where dial fibers run (closed with the layer's scope). */
  readonly dials: FiberSet.FiberSet<void, never>
  /** The candidates GetKnownPeers answers are drawn from, ranked at most once a second. */
  readonly servedSample: ServedSample
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

/** The knobs of a configuration: each one given, or its default. */
export const discoveryTuningOf = (config: DiscoveryConfig): DiscoveryTuning => ({
  tickMs: config.tickMs ?? defaultDiscoveryTuning.tickMs,
  peersToQuery: config.peersToQuery ?? defaultDiscoveryTuning.peersToQuery,
  targetConnections: config.targetConnections ?? defaultDiscoveryTuning.targetConnections,
  queryTimeoutMs: config.queryTimeoutMs ?? defaultDiscoveryTuning.queryTimeoutMs,
  maxEntriesPerResponse: config.maxEntriesPerResponse ?? defaultDiscoveryTuning.maxEntriesPerResponse,
  maxPeersToSend: config.maxPeersToSend ?? defaultDiscoveryTuning.maxPeersToSend,
  rotationProbability: config.rotationProbability ?? defaultDiscoveryTuning.rotationProbability
})

/** The shared state of a discovery layer, in the current scope; fails if the configuration cannot work. */
export const buildDiscovery = (
  config: DiscoveryConfig
): Effect.Effect<DiscoveryRuntime, InvalidDiscoveryConfig, Network | PeerManager | Crypto | Scope.Scope> =>
  Effect.gen(function* () {
    const network = yield* Network
    const manager = yield* PeerManager
    const crypto = yield* Crypto
    const random = yield* Effect.random
    const tuning = discoveryTuningOf(config)
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

    return {
      network,
      manager,
      crypto,
      random,
      tuning,
      ownInfo: Ref.get(own),
      resign: Effect.tap(sign, (signed) => Ref.set(own, signed)),
      wanted: yield* Ref.make(config.preferCapabilities ?? 0),
      rounds: yield* Ref.make(0),
      dials: yield* FiberSet.make<void, never>(),
      servedSample: yield* makeServedSample(manager.servableNodeInfos(servableRequest(tuning.maxPeersToSend)), SERVE_SAMPLE_MAX_AGE_MS)
    }
  })
