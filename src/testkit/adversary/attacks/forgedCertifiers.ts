/**
 * Attack 4, a forged certifier answer to the victim's own sync. Attacker peers hold the victim's chain
 * and `FORGED_EXTRA_COMMITS` commits more (the same generated chain, longer), announce themselves to
 * the victim (GetKnownPeers with their signed info) so its discovery dials them, advertise that higher
 * tip (GetCommitAvailability, PushCommit) and serve the real commits above the victim's tip — but the
 * certifier refs of each answer name blocks whose signatures were altered (a byte of the signature
 * flipped; the ref's digest is the altered block's, so only the signature check can catch it). The
 * victim must refuse them, ban the peer and keep serving. A fresh identity is announced every
 * `ROTATE_MS`, so a ban does not end the attack.
 */
import { Effect, Either, Exit, Scope, Stream } from "effect"
import { toHex } from "../../../domain/bytes.js"
import { encodeBcs } from "../../../domain/codec.js"
import { blake2b256 } from "../../../domain/hash.js"
import { BlockRefBcs, CommitRefBcs, type BlockRef } from "../../../domain/refs.js"
import { P2pMethods } from "../../../proto/P2pMethods.js"
import type { GeneratedCommit } from "../../chain.js"
import { cachedCommits } from "../../chainCache.js"
import { scaled, type Attack, type AttackContext } from "../attack.js"
import { freshIdentity } from "../identity.js"
import { announce, attackerNetwork, signedNodeInfo } from "../peer.js"

/** Commits above the victim's tip that the forgers offer (the bench generates the chain this long). */
export const FORGED_EXTRA_COMMITS = 20
/** A new forger identity this often. */
const ROTATE_MS = 2_500
const FORGERS = 4
/** How often a forger pushes its tip to the victim (refused unless the victim dialled it). */
const PUSH_INTERVAL_MS = 1_000
const MAX_COMMITS_PER_ANSWER = 100
const MAX_ANSWER_BYTES = 4 * 1024 * 1024 - 1024

/** The chain as the forgers serve it: commits by index, blocks by digest, forged certifiers per commit. */
interface ForgedChain {
  readonly commits: ReadonlyMap<number, GeneratedCommit>
  readonly blocks: ReadonlyMap<string, Uint8Array>
  /** Per commit index: the refs of its certifier blocks with altered signatures. */
  readonly forgedCertifierRefs: ReadonlyMap<number, ReadonlyArray<Uint8Array>>
  readonly tip: number
}

const forgeChain = (context: AttackContext): ForgedChain => {
  const { config, commits: held } = context.plan.chain
  const tip = held + FORGED_EXTRA_COMMITS
  const commits = new Map<number, GeneratedCommit>()
  const blocks = new Map<string, Uint8Array>()
  const forgedCertifierRefs = new Map<number, Array<Uint8Array>>()
  for (const c of cachedCommits(config, tip)) {
    const index = c.subDag.commitRef.index
    commits.set(index, c)
    for (const b of c.subDag.blocks) blocks.set(toHex(b.ref.digest), b.bytes)
    forgedCertifierRefs.set(
      index,
      c.certifierBlocks.map((b) => {
        const forged = Uint8Array.from(b.bytes)
        forged[forged.length - 1]! ^= 0x01 // the signature is the last 64 bytes
        const ref: BlockRef = { ...b.ref, digest: blake2b256(forged) }
        blocks.set(toHex(ref.digest), forged)
        return encodeBcs(BlockRefBcs, ref)
      })
    )
  }
  return { commits, blocks, forgedCertifierRefs, tip }
}

/** One forger: serves the forged chain, announces itself and pushes its tip until the scope closes. */
const forger = (context: AttackContext, chain: ForgedChain) =>
  Effect.gen(function* () {
    const { counters, plan } = context
    const identity = freshIdentity()
    const network = yield* attackerNetwork(identity)
    const tipCommit = chain.commits.get(chain.tip)!
    const tipRef = encodeBcs(CommitRefBcs, tipCommit.subDag.commitRef)
    yield* network.handleUnary(P2pMethods.GetKnownPeers, () => {
      counters.add("victimGetKnownPeers")
      return Effect.succeed({ ownInfo: signedNodeInfo(identity, [network.listenAddress]), knownPeers: [] })
    })
    yield* network.handleUnary(P2pMethods.GetCommitAvailability, () => {
      counters.add("victimGetCommitAvailability")
      return Effect.succeed({ highestSyncedCommit: chain.tip, lowestAvailableCommit: 1, epoch: tipCommit.subDag.epoch })
    })
    yield* network.handleUnary(P2pMethods.GetCommitInfo, (request) => {
      const index = request.query?.$case === "index" ? request.query.value : chain.tip
      const c = chain.commits.get(index)
      return Effect.succeed(c === undefined ? {} : { commitRef: encodeBcs(CommitRefBcs, c.subDag.commitRef) })
    })
    yield* network.handleUnary(P2pMethods.PushCommit, () => Effect.succeed({}))
    yield* network.handleUnary(P2pMethods.FetchCommits, (request) => {
      counters.add("victimFetchCommits")
      const first = chain.commits.get(request.start)
      const answer: Array<GeneratedCommit> = []
      for (let i = request.start; i <= Math.min(request.end, chain.tip) && answer.length < MAX_COMMITS_PER_ANSWER; i++) {
        const c = chain.commits.get(i)
        if (c === undefined || c.subDag.epoch !== first?.subDag.epoch) break
        answer.push(c)
      }
      const last = answer[answer.length - 1]
      if (last !== undefined && last.subDag.commitRef.index > plan.chain.commits) counters.add("forgedAnswers")
      return Effect.succeed({
        commits: answer.map((c) => c.subDag.commit.bytes),
        certifierRefs: last === undefined ? [] : [...(chain.forgedCertifierRefs.get(last.subDag.commitRef.index) ?? [])]
      })
    })
    yield* network.handleServerStream(P2pMethods.FetchBlocks, (request) => {
      counters.add("victimFetchBlocks")
      const found: Array<Uint8Array> = []
      let bytes = 0
      for (const refBytes of request.blockRefs) {
        const block = chain.blocks.get(toHex(refBytes.subarray(8, 40)))
        if (block === undefined || bytes + block.length > MAX_ANSWER_BYTES) continue
        found.push(block)
        bytes += block.length
      }
      counters.add("blocksServed", found.length)
      return Stream.make({ blocks: found })
    })
    counters.add("identities")
    const announced = yield* Effect.either(announce(network, identity, plan.victim, network.listenAddress))
    counters.add(Either.isRight(announced) ? "announced" : "announceFailed")
    // Pushing needs the victim to have dialled us; until then it is refused, which costs nothing.
    yield* network.call(plan.victim.peerId, P2pMethods.PushCommit, { commitRef: tipRef }, { timeout: 2_000 }).pipe(
      Effect.tap(() => Effect.sync(() => counters.add("pushesAccepted"))),
      Effect.ignore,
      Effect.zipRight(Effect.sleep(PUSH_INTERVAL_MS)),
      Effect.forever,
      Effect.forkScoped
    )
  })

/** Forger peers, a fresh one every `ROTATE_MS`, serving commits above the victim's tip with forged certifiers. */
export const forgedCertifiers: Attack = async (context) => {
  const chain = forgeChain(context)
  context.counters.set("forgedTip", chain.tip)
  const scope = Effect.runSync(Scope.make())
  const start = () => Effect.runPromise(Effect.either(Scope.extend(forger(context, chain), scope))).then(() => undefined)
  const count = scaled(context.plan, FORGERS)
  await start()
  context.ready()
  for (let i = 1; i < count && !context.stopped(); i++) {
    await Promise.race([context.stop, new Promise((resolve) => setTimeout(resolve, ROTATE_MS))])
    if (!context.stopped()) await start()
  }
  await context.stop
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
