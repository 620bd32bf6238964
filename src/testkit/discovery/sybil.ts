/**
 * Sybil attackers for the discovery simulations and the bench: raw simulated nodes that look like
 * peers (their own NodeInfo is valid and they accept dials) but answer every GetKnownPeers with each
 * other's NodeInfos and as many fresh fake identities as the answer holds — valid signatures, dated
 * now + 29 s (just inside the 30 s skew every node accepts), at addresses nobody listens on. Keys are
 * free, so every answer can carry identities nobody has seen. They also call honest nodes, so that they
 * are known and dialled.
 */
import { Clock, Effect, Ref, type Scope } from "effect"
import { generateKeyPairSync, sign } from "node:crypto"
import { Capability, encodeSignedNodeInfo, nodeInfoSigningMessage, type NodeInfo } from "../../domain/nodeInfo.js"
import { peerIdFromPublicKey, type PeerId } from "../../domain/PeerId.js"
import { makeSimNode } from "../../layers/network/sim/SimNetworkLayer.js"
import type { SimNetwork } from "../../layers/network/sim/SimNetwork.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type { NetworkService } from "../../services/Network.js"
import { signNodeInfo } from "../faults.js"
import { deriveSeed, TestSigner } from "../keys.js"

/** How far ahead the attackers date what they sign: the most every node accepts (30 s) minus a margin. */
export const SYBIL_FUTURE_MS = 29_000

/** Fresh fake identities, minted in pools (one per virtual second, dated that second + 29 s). */
export interface FakeIdentityMint {
  /** `count` encoded NodeInfos taken in turn from this second's pool (repeating if it holds fewer). */
  readonly fresh: (count: number, nowMs: number) => ReadonlyArray<Uint8Array>
  /** PeerIds of every identity minted so far. */
  readonly minted: () => ReadonlySet<PeerId>
}

/**
 * A mint of fake identities: `poolPerSecond` new keys in every virtual second that an answer is
 * served (a key costs the simulation ~1 ms, so a large world shares one pool among its attackers);
 * answers take from the second's pool in turn and wrap around when it runs out. Keys are random
 * (generating them is the attacker's cost, not the victim's), so which fakes a run sees is not
 * reproducible — how many are admitted, verified and kept is.
 */
export const makeFakeIdentityMint = (poolPerSecond: number): FakeIdentityMint => {
  let counter = 0
  let second = Number.NaN
  let pool: Array<Uint8Array> = []
  let cursor = 0
  const minted = new Set<PeerId>()
  const refill = (nowMs: number) => {
    second = Math.floor(nowMs / 1_000)
    cursor = 0
    pool = Array.from({ length: poolPerSecond }, () => {
      const { publicKey, privateKey } = generateKeyPairSync("ed25519")
      const spki = publicKey.export({ format: "der", type: "spki" })
      const peerId = peerIdFromPublicKey(new Uint8Array(spki.subarray(spki.length - 32)))
      counter += 1
      minted.add(peerId)
      const info: NodeInfo = {
        peerId,
        addresses: [`sim://fake/${counter}`],
        timestampMs: second * 1_000 + SYBIL_FUTURE_MS,
        role: "FullNode",
        capabilities: Capability.ServesStateSync
      }
      return encodeSignedNodeInfo({ info, signature: new Uint8Array(sign(null, nodeInfoSigningMessage(info), privateKey)) })
    })
  }
  return {
    fresh: (count, nowMs) => {
      if (Math.floor(nowMs / 1_000) !== second) refill(nowMs)
      const taken: Array<Uint8Array> = []
      for (let k = 0; k < Math.min(count, pool.length); k++) {
        taken.push(pool[cursor % pool.length] as Uint8Array)
        cursor += 1
      }
      return taken
    },
    minted: () => minted
  }
}

/** One running attacker. */
export interface SybilNode {
  readonly peerId: PeerId
  readonly address: string
  readonly network: NetworkService
  /** Its own NodeInfo, dated `nowMs + SYBIL_FUTURE_MS` (for the others to relay). */
  readonly ownInfoAt: (nowMs: number) => Uint8Array
  /** GetKnownPeers answers it has served. */
  readonly answers: Effect.Effect<number>
  /** Dials `peerId` and asks it for its known peers, announcing itself (errors ignored). */
  readonly announceTo: (peerId: PeerId, address: string) => Effect.Effect<void>
}

/** What an attacker needs. */
export interface SybilNodeConfig {
  readonly seed: number
  readonly index: number
  readonly mint: FakeIdentityMint
  /** Its fellow attackers' NodeInfos at a time (put first in every answer, so they get dialled). */
  readonly friends: (nowMs: number) => ReadonlyArray<Uint8Array>
  /** Entries per answer (default 200, what an honest server sends at most). */
  readonly answerSize?: number
}

/** The signer of attacker `index` of the simulation `seed`. */
export const sybilSigner = (seed: number, index: number): TestSigner => new TestSigner(deriveSeed("discovery-sybil", seed, index))

/** Starts an attacker in the current scope. */
export const startSybilNode = (config: SybilNodeConfig): Effect.Effect<SybilNode, never, SimNetwork | Scope.Scope> =>
  Effect.gen(function* () {
    const signer = sybilSigner(config.seed, config.index)
    const peerId = peerIdFromPublicKey(signer.publicKey)
    const address = `sim://sybil/${config.index}`
    const network = yield* makeSimNode({ peerId, address })
    const answers = yield* Ref.make(0)
    const answerSize = config.answerSize ?? 200
    let signedSecond = Number.NaN
    let signed: Uint8Array = new Uint8Array(0)
    const ownInfoAt = (nowMs: number): Uint8Array => {
      if (Math.floor(nowMs / 1_000) !== signedSecond) {
        signedSecond = Math.floor(nowMs / 1_000)
        const info: NodeInfo = {
          peerId,
          addresses: [address],
          timestampMs: signedSecond * 1_000 + SYBIL_FUTURE_MS,
          role: "FullNode",
          capabilities: Capability.ServesStateSync
        }
        signed = encodeSignedNodeInfo(signNodeInfo(info, signer))
      }
      return signed
    }

    yield* network.handleUnary(P2pMethods.GetKnownPeers, () =>
      Effect.gen(function* () {
        const nowMs = yield* Clock.currentTimeMillis
        yield* Ref.update(answers, (n) => n + 1)
        const friends = config.friends(nowMs).slice(0, answerSize)
        return { ownInfo: ownInfoAt(nowMs), knownPeers: [...friends, ...config.mint.fresh(answerSize - friends.length, nowMs)] }
      })
    )

    const announceTo = (target: PeerId, targetAddress: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* network.dial(target, targetAddress)
        const nowMs = yield* Clock.currentTimeMillis
        yield* network.call(target, P2pMethods.GetKnownPeers, { ownInfo: ownInfoAt(nowMs) }, { timeout: "5 seconds" })
      }).pipe(Effect.ignore)

    return { peerId, address, network, ownInfoAt, answers: Ref.get(answers), announceTo }
  })
