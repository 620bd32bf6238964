/**
 * The baseline of the sync benchmark: the original Soma module's state-sync strategy (research notes
 * §3.3–3.5), reproduced with this project's real parts — gRPC with mutual TLS, the same `Verifier`,
 * the same LMDB store writes — in its own process, as `syncFreshNode.ts` runs ours. What it does, as
 * Soma did:
 *
 * - one sync task at a time, from one peer: a random one of the first two (`SELECTION_WINDOW`) that
 *   claim the target; heights from GetCommitAvailability, polled every 100 ms (Soma's tick);
 * - the task: FetchCommits `next..next+99` (the server ends it at the epoch boundary), the hash chain
 *   and the link to what we have, the certifiers of the last commit; then FetchBlocks of all the
 *   range's blocks from the same peer, in chunks of ≤ 1,000 refs, chunk i opened 200 ms × i after the
 *   first; then each block verified, one after another; then commits and blocks written in one
 *   transaction. Fetching and verifying never overlap, and the next task starts only after the write;
 * - a failed task moves to another peer; with no peer left it sleeps 1 s.
 *
 * It verifies everything our sync verifies (`checkCommitRange`, `verifyCertifiers`, every block in
 * full), with the same calls — only sequentially, and on one thread. "One thread" is `NodeCryptoLayer`
 * with every batch verified inline (`inlineBelow` / `blsInlineBelow` = ∞; its pool gets one worker that
 * is never used): native OpenSSL Ed25519 and native blst, as Soma's Rust verifier used native code,
 * one block at a time (Soma's `verify_batch` took one block's transactions). The noble layer would be
 * pure JavaScript, ~10× slower than anything Soma ran, and so no fair baseline. blst's batch check of
 * a block's certificates may use its own threads for the pairing, exactly as the Rust blst binding
 * Soma called does.
 *
 * Prints one JSON line `{"seconds":…,"secondsToFirstPeer":…,"memory":{…},"cpuCores":…}`; `seconds` runs
 * from the first connected peer to the `commits`-th commit written. argv: config file (a full node's
 * `NodeConfig`: its key, listen address, seed peers, store path, genesis committee), commits.
 */
import { performance } from "node:perf_hooks"
import { Context, Effect, Either, Layer, Logger, LogLevel, Option, Stream } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { toHex } from "../../domain/bytes.js"
import { encodeBcs } from "../../domain/codec.js"
import { committedSubDag, decodeCommit, type VerifiedCommit } from "../../domain/commit.js"
import type { Committee } from "../../domain/committee.js"
import { blake2b256 } from "../../domain/hash.js"
import type { PeerId } from "../../domain/PeerId.js"
import { BlockRefBcs, blockRefKey, type BlockRef } from "../../domain/refs.js"
import { makeNodeCrypto } from "../../layers/crypto/NodeCryptoLayer.js"
import { LmdbStoreLayer } from "../../layers/store/LmdbStoreLayer.js"
import { VerifierLayer } from "../../layers/verifier/VerifierLayer.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import { Crypto } from "../../services/Crypto.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { Store, type StoreService } from "../../services/Store.js"
import { Verifier, type BlockToVerify, type VerifierService } from "../../services/Verifier.js"
import { loadNodeConfig } from "../node/NodeConfig.js"
import { grpcNetworkOf, startOf } from "../node/P2pBuilder.js"
import { startMemorySampler } from "./memory.js"

/** Soma's COMMIT_SYNC_BATCH_SIZE: commits per FetchCommits. */
const COMMITS_PER_TASK = 100
/** Soma's MAX_BLOCKS_PER_FETCH: refs per FetchBlocks stream. */
const BLOCKS_PER_FETCH = 1_000
/** Soma's pipelining: block chunk i is requested 200 ms × i after the first. */
const CHUNK_STAGGER_MS = 200
/** Soma's state-sync tick: every peer's heights are asked this often. */
const HEIGHT_POLL_MS = 100
/** Soma's PeerBalancer window: a random peer among the first two that qualify. */
const SELECTION_WINDOW = 2
/** Soma's sleep when every peer failed. */
const RETRY_SLEEP_MS = 1_000
/** Deadlines (Soma had none on the fetches; a bench must not hang). */
const CALL_TIMEOUT_MS = 60_000

const [configFile, commitsText] = process.argv.slice(2) as [string, string]
const commits = Number(commitsText)
const memory = startMemorySampler()

/** A task failed; the next one goes to another peer. */
class TaskFailed {
  readonly _tag = "TaskFailed"
  constructor(readonly detail: string) {}
}

interface PeerHeight {
  readonly highest: number
  readonly lowest: number
}

/** Lets timers and I/O run (Effect's own yields are mostly microtasks, which do not). */
const yieldToEventLoop = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** FetchBlocks `refs` from `peer`: the blocks by digest (only those asked for), with their digests. */
const fetchBlocks = (network: NetworkService, peer: PeerId, refs: ReadonlyArray<BlockRef>) =>
  Effect.gen(function* () {
    const wanted = new Map(refs.map((r) => [toHex(r.digest), r] as const))
    const received = new Map<string, BlockToVerify>()
    yield* network.callStream(peer, P2pMethods.FetchBlocks, { blockRefs: refs.map((r) => encodeBcs(BlockRefBcs, r)) }, { timeout: CALL_TIMEOUT_MS }).pipe(
      Stream.runForEach((message) =>
        Effect.sync(() => {
          for (const bytes of message.blocks) {
            const digest = blake2b256(bytes)
            const key = toHex(digest)
            const expected = wanted.get(key)
            if (expected !== undefined) received.set(key, { bytes, expected, digest })
          }
        })
      ),
      Effect.mapError((e) => new TaskFailed(`FetchBlocks: ${e.message}`))
    )
    if (received.size !== refs.length) return yield* Effect.fail(new TaskFailed(`FetchBlocks: ${refs.length - received.size} of ${refs.length} blocks missing`))
    return refs.map((r) => received.get(toHex(r.digest)) as BlockToVerify)
  })

/** One Soma sync task: ≤ 100 commits from `peer`, verified, their blocks fetched, verified and written. */
const syncTask = (
  deps: { readonly network: NetworkService; readonly store: StoreService; readonly verifier: VerifierService },
  committeeOf: (epoch: number) => Effect.Effect<Committee, TaskFailed>,
  peer: PeerId,
  start: number,
  target: number,
  previousDigest: Uint8Array
) =>
  Effect.gen(function* () {
    const { network, store, verifier } = deps
    // Phase 1: commits, their hash chain, the certifiers of the last one.
    const end = Math.min(target, start + COMMITS_PER_TASK - 1)
    const response = yield* network
      .call(peer, P2pMethods.FetchCommits, { start, end }, { timeout: CALL_TIMEOUT_MS })
      .pipe(Effect.mapError((e) => new TaskFailed(`FetchCommits: ${e.message}`)))
    const first = response.commits[0]
    if (first === undefined) return yield* Effect.fail(new TaskFailed("FetchCommits: no commit"))
    // The epoch of the range is its first commit's; checkCommitRange then holds every commit to it.
    const decoded = decodeCommit(first)
    if (Either.isLeft(decoded)) return yield* Effect.fail(new TaskFailed(`undecodable commit: ${decoded.left.message}`))
    const committee = yield* committeeOf(decoded.right.epoch)
    const checked = yield* verifier
      .checkCommitRange(committee, { start, maxCommits: end - start + 1, commits: response.commits, certifierRefs: response.certifierRefs, previousDigest })
      .pipe(Effect.mapError((e) => new TaskFailed(e.message)))
    const last = checked.commits[checked.commits.length - 1] as VerifiedCommit
    const certifierBlocks = yield* fetchBlocks(network, peer, checked.certifiers)
    const certifiers = yield* verifier
      .verifyCertifiers(committee, last.ref, checked.certifiers, certifierBlocks)
      .pipe(Effect.mapError((e) => new TaskFailed(e.message)))

    // Phase 2: every block the commits list, from the same peer, chunks staggered by 200 ms.
    const refs: Array<BlockRef> = []
    const seen = new Set<string>()
    for (const c of checked.commits)
      for (const ref of c.commit.blocks) {
        const key = blockRefKey(ref)
        if (!seen.has(key)) {
          seen.add(key)
          refs.push(ref)
        }
      }
    const chunks: Array<ReadonlyArray<BlockRef>> = []
    for (let i = 0; i < refs.length; i += BLOCKS_PER_FETCH) chunks.push(refs.slice(i, i + BLOCKS_PER_FETCH))
    const fetched = yield* Effect.forEach(
      chunks,
      (chunk, i) => Effect.zipRight(Effect.sleep(CHUNK_STAGGER_MS * i), fetchBlocks(network, peer, chunk)),
      { concurrency: "unbounded" }
    )
    // Verification: one block after another, once everything has arrived. Between two blocks the event
    // loop gets a turn (as Soma's transport ran on other tokio threads): without it, seconds of
    // verification in a row would leave HTTP/2 keepalive pings unanswered and the connections dropped.
    const blocks = new Map<string, VerifiedBlock>()
    for (const input of fetched.flat()) {
      yield* yieldToEventLoop
      const [result] = yield* verifier.verifyBlocks(committee, [input])
      if (result === undefined || Either.isLeft(result)) return yield* Effect.fail(new TaskFailed(`invalid block: ${result === undefined ? "?" : result.left.message}`))
      blocks.set(blockRefKey(result.right.ref), result.right)
    }

    // Phase 3: commits and blocks in one transaction.
    const subDags = checked.commits.map((c) => committedSubDag(c, c.commit.blocks.map((ref) => blocks.get(blockRefKey(ref)) as VerifiedBlock)))
    yield* store
      .writeCommits(
        subDags.map((subDag) => ({ subDag })),
        { extraBlocks: certifiers }
      )
      .pipe(Effect.mapError((e) => new TaskFailed(`store: ${e.message}`)))
    return last
  })

const program = Effect.gen(function* () {
  const config = yield* loadNodeConfig(configFile)
  const begin = performance.now()
  const crypto = Layer.scoped(Crypto, makeNodeCrypto({ inlineBelow: Number.POSITIVE_INFINITY, blsInlineBelow: Number.POSITIVE_INFINITY, pool: { size: 1 } }))
  const context = yield* Layer.build(Layer.mergeAll(grpcNetworkOf(config), LmdbStoreLayer(config.storagePath), VerifierLayer.pipe(Layer.provide(crypto))))
  const network = Context.get(context, Network)
  const store = Context.get(context, Store)
  const verifier = Context.get(context, Verifier)
  const start = startOf(config)
  yield* verifier.verifyCommittee(start.committee)
  const started = yield* store.initialise(start)

  const committees = new Map<number, Committee>()
  const committeeOf = (epoch: number) =>
    Effect.gen(function* () {
      const cached = committees.get(epoch)
      if (cached !== undefined) return cached
      const stored = yield* Effect.orElseFail(store.getCommittee(epoch), () => new TaskFailed("store"))
      if (Option.isNone(stored)) return yield* Effect.fail(new TaskFailed(`no committee for epoch ${epoch} yet`))
      committees.set(epoch, stored.value)
      return stored.value
    })

  // Soma dials its seed peers; the clock starts at the first connection, as for our node.
  const seeds = config.seedPeers
  yield* Effect.raceAll(seeds.map((s) => network.dial(s.peerId, s.address)))
  const firstPeer = performance.now()
  const cpuBegin = process.cpuUsage()
  yield* Effect.forEach(seeds, (s) => Effect.ignore(network.dial(s.peerId, s.address)), { concurrency: "unbounded", discard: true })

  // Heights of every connected peer, every tick.
  const heights = new Map<PeerId, PeerHeight>()
  const pollHeights = Effect.flatMap(network.connectedPeers, (peers) =>
    Effect.forEach(
      peers,
      (peer) =>
        network.call(peer, P2pMethods.GetCommitAvailability, {}, { timeout: CALL_TIMEOUT_MS }).pipe(
          Effect.tap((r) => Effect.sync(() => heights.set(peer, { highest: r.highestSyncedCommit, lowest: r.lowestAvailableCommit }))),
          Effect.ignore
        ),
      { concurrency: "unbounded", discard: true }
    )
  )
  yield* pollHeights
  yield* pollHeights.pipe(Effect.zipRight(Effect.sleep(HEIGHT_POLL_MS)), Effect.forever, Effect.forkScoped)

  let next = started.highestSyncedCommit + 1
  let previousDigest = start.commitRef.digest
  let tasks = 0
  let failures = 0
  while (next <= commits) {
    const target = Math.max(...[...heights.values()].map((h) => h.highest), next - 1)
    // The balancer: peers that claim the target, in map order; a random one of the first two.
    const candidates = [...heights.entries()].filter(([, h]) => h.highest >= target && h.lowest <= next).map(([peer]) => peer)
    const tried = new Set<PeerId>()
    let done = false
    while (!done) {
      const window = candidates.filter((p) => !tried.has(p)).slice(0, SELECTION_WINDOW)
      const peer = window[Math.floor(Math.random() * window.length)]
      if (peer === undefined) break
      tried.add(peer)
      // Redial a peer whose connection dropped (Soma's discovery redialled its seeds).
      const seed = seeds.find((s) => s.peerId === peer)
      if (seed !== undefined) yield* Effect.ignore(network.dial(seed.peerId, seed.address))
      const outcome = yield* Effect.either(syncTask({ network, store, verifier }, committeeOf, peer, next, target, previousDigest))
      if (Either.isRight(outcome)) {
        next = outcome.right.commit.index + 1
        previousDigest = outcome.right.ref.digest
        tasks++
        done = true
      } else {
        failures++
        yield* Effect.logWarning(`baseline: task ${next}.. from ${peer.slice(0, 8)} failed: ${outcome.left.detail}`)
      }
    }
    if (!done) yield* Effect.sleep(RETRY_SLEEP_MS)
  }
  const seconds = (performance.now() - firstPeer) / 1000
  const cpu = process.cpuUsage(cpuBegin)
  return {
    seconds,
    secondsToFirstPeer: (firstPeer - begin) / 1000,
    cpuCores: (cpu.user + cpu.system) / 1e6 / seconds,
    tasks,
    failures
  }
}).pipe(
  Effect.scoped,
  Logger.withMinimumLogLevel(LogLevel.Warning),
  // stdout carries the result line
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
)

Effect.runPromise(program).then(
  (result) => {
    console.log(JSON.stringify({ ...result, memory: memory.stop() }))
    process.exit(0)
  },
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
