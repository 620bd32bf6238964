/**
 * The `GetKnownPeers` handler. It refuses banned callers, checks the caller's own NodeInfo — it must
 * name the authenticated caller (`InboundContext.peerId`), be within the time window and carry a valid
 * signature — before storing it (Soma forwarded it unverified), and answers with our NodeInfo and at
 * most `maxPeersToSend` others: a random sample of the most recently signed ones. Bad input is answered
 * with INVALID_ARGUMENT and counts against the caller; nothing here can fail otherwise.
 */
import { Effect, Either, type Random } from "effect"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../domain/nodeInfo.js"
import type * as pb from "../../proto/soma/p2p/v1/p2p.pb.js"
import type { CryptoService } from "../../services/Crypto.js"
import { HandlerStatus, type InboundContext } from "../../services/Network.js"
import type { Offence, PeerManagerService, PeerTable } from "../../services/PeerManager.js"
import { SERVE_AGE_MARGIN_MS, SERVE_FRESHNESS_WINDOW } from "./config.js"
import { describeRejection, nodeInfoVerifyItem, offenceOf, precheckNodeInfo } from "./nodeInfoRules.js"
import { mergeNodeInfos, unchanged } from "./peerTable.js"
import { sample, seededRng, type Rng } from "./prng.js"
import { serveCandidates } from "./ranking.js"

/** What the handler needs. */
export interface KnownPeersServerDeps {
  readonly manager: PeerManagerService
  readonly crypto: CryptoService
  readonly random: Random.Random
  /** Our current signed NodeInfo. */
  readonly ownInfo: Effect.Effect<SignedNodeInfo>
  readonly maxPeersToSend: number
}

/**
 * The NodeInfos to answer with: all servable ones if there are at most `max`, otherwise `max` drawn at
 * random from the `max × SERVE_FRESHNESS_WINDOW` most recently signed.
 */
export const knownPeersToServe = (table: PeerTable, nowMs: number, caller: InboundContext["peerId"], max: number, rng: Rng): Array<SignedNodeInfo> => {
  const candidates = serveCandidates(table, nowMs, caller, SERVE_AGE_MARGIN_MS)
  const chosen = candidates.length <= max ? candidates : sample(candidates.slice(0, max * SERVE_FRESHNESS_WINDOW), max, rng)
  return chosen.flatMap((r) => (r.info === undefined ? [] : [r.info]))
}

/** Builds the handler. */
export const makeKnownPeersHandler =
  (deps: KnownPeersServerDeps) =>
  (request: pb.GetKnownPeersRequest, context: InboundContext): Effect.Effect<pb.GetKnownPeersResponse, HandlerStatus> =>
    Effect.gen(function* () {
      const caller = context.peerId
      if (yield* deps.manager.isBanned(caller)) {
        return yield* Effect.fail(new HandlerStatus({ code: "PERMISSION_DENIED", detail: "this peer is banned" }))
      }
      const [table, nowMs] = yield* deps.manager.transition((t, now) => unchanged(t, [t, now] as const))
      const refuse = (offence: Offence | undefined, detail: string) =>
        Effect.zipRight(
          offence === undefined ? Effect.void : deps.manager.reportMisbehaviour(caller, offence, `GetKnownPeers ownInfo: ${detail}`),
          Effect.fail(HandlerStatus.invalidArgument(`ownInfo: ${detail}`))
        )
      if (request.ownInfo.length === 0) return yield* refuse("InvalidNodeInfo", "missing")
      const checked = precheckNodeInfo(request.ownInfo, { nowMs, self: table.self, policy: table.policy, expectedPeerId: caller })
      if (Either.isLeft(checked)) return yield* refuse(offenceOf(checked.left), describeRejection(checked.left))
      if (!(yield* deps.crypto.verify(nodeInfoVerifyItem(checked.right)))) {
        return yield* refuse("InvalidNodeInfo", "BadSignature")
      }
      yield* deps.manager.transition((t, now) => mergeNodeInfos(t, [checked.right], now))
      const seed = yield* deps.random.nextInt
      const [served, own] = yield* Effect.zip(
        deps.manager.transition((t, now) => unchanged(t, knownPeersToServe(t, now, caller, deps.maxPeersToSend, seededRng(seed)))),
        deps.ownInfo
      )
      return { ownInfo: encodeSignedNodeInfo(own), knownPeers: served.map(encodeSignedNodeInfo) }
    })
