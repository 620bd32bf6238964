/**
 * The serving side of discovery: the `GetKnownPeers` handler, and its registration on the network. It
 * refuses banned callers, checks the caller's own NodeInfo — it must name the authenticated caller
 * (`InboundContext.peerId`), be within the time window and carry a valid signature — before storing it
 * (Soma forwarded it unverified), and answers with our NodeInfo and at most `maxPeersToSend` others: a
 * random sample of the tick's best-observed ones (`servedSample.ts`, `plan/serve.ts`), so a call never
 * ranks the table. Bad input is answered with
 * INVALID_ARGUMENT and counts against the caller; nothing here can fail otherwise.
 */
import { Clock, Effect, Either, type Random, type Scope } from "effect"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../domain/nodeInfo.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type * as pb from "../../proto/soma/p2p/v1/p2p.pb.js"
import type { CryptoService } from "../../services/Crypto.js"
import { HandlerStatus, type InboundContext } from "../../services/Network.js"
import type { Offence, PeerManagerService } from "../../services/PeerManager.js"
import { seededRng } from "../peers/prng.js"
import type { DiscoveryRuntime } from "./builder.js"
import { describeRejection, nodeInfoVerifyItem, offenceOf, precheckNodeInfo } from "./plan/nodeInfoRules.js"
import { knownPeersToServe } from "./plan/serve.js"

/** What the handler needs. */
export interface KnownPeersServerDeps {
  readonly manager: PeerManagerService
  readonly crypto: CryptoService
  readonly random: Random.Random
  /** Our current signed NodeInfo. */
  readonly ownInfo: Effect.Effect<SignedNodeInfo>
  readonly maxPeersToSend: number
  /** The candidates of this tick's answers (`DiscoveryRuntime.servedSample`). */
  readonly servedSample: Effect.Effect<ReadonlyArray<SignedNodeInfo>>
}

/** The handler's dependencies, from the discovery runtime. */
export const knownPeersServerDeps = (rt: DiscoveryRuntime): KnownPeersServerDeps => ({
  manager: rt.manager,
  crypto: rt.crypto,
  random: rt.random,
  ownInfo: rt.ownInfo,
  maxPeersToSend: rt.tuning.maxPeersToSend,
  servedSample: rt.servedSample.get
})

/** Builds the handler. */
export const makeKnownPeersHandler =
  (deps: KnownPeersServerDeps) =>
  (request: pb.GetKnownPeersRequest, context: InboundContext): Effect.Effect<pb.GetKnownPeersResponse, HandlerStatus> =>
    Effect.gen(function* () {
      const caller = context.peerId
      if (yield* deps.manager.isBanned(caller)) {
        return yield* Effect.fail(new HandlerStatus({ code: "PERMISSION_DENIED", detail: "this peer is banned" }))
      }
      const nowMs = yield* Clock.currentTimeMillis
      const refuse = (offence: Offence | undefined, detail: string) =>
        Effect.zipRight(
          offence === undefined ? Effect.void : deps.manager.reportOffence(caller, offence, `GetKnownPeers ownInfo: ${detail}`),
          Effect.fail(HandlerStatus.invalidArgument(`ownInfo: ${detail}`))
        )
      if (request.ownInfo.length === 0) return yield* refuse("InvalidNodeInfo", "missing")
      const checked = precheckNodeInfo(request.ownInfo, { nowMs, self: deps.manager.localPeerId, policy: deps.manager.policy, expectedPeerId: caller })
      if (Either.isLeft(checked)) return yield* refuse(offenceOf(checked.left), describeRejection(checked.left))
      if (!(yield* deps.crypto.verify(nodeInfoVerifyItem(checked.right)))) {
        return yield* refuse("InvalidNodeInfo", "BadSignature")
      }
      yield* deps.manager.mergeNodeInfos([checked.right])
      const seed = yield* deps.random.nextInt
      const [candidates, own] = yield* Effect.zip(deps.servedSample, deps.ownInfo)
      const served = knownPeersToServe(candidates, caller, deps.maxPeersToSend, seededRng(seed))
      return { ownInfo: encodeSignedNodeInfo(own), knownPeers: served.map(encodeSignedNodeInfo) }
    })

/** Registers the `GetKnownPeers` handler until the scope closes. */
export const registerDiscoveryServer = (rt: DiscoveryRuntime): Effect.Effect<void, never, Scope.Scope> =>
  rt.network.handleUnary(
    P2pMethods.GetKnownPeers,
    makeKnownPeersHandler(knownPeersServerDeps(rt))
  )
