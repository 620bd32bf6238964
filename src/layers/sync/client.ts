/**
 * The fetching side of state sync: one function per command of the plan. Each calls a peer with a
 * deadline, verifies what comes back, and reports an outcome the plan understands — never an error:
 * whatever a peer does ends as `Failed` (not its fault, maybe), `Empty`, or `Invalid` (its fault).
 */
import { Effect, Either, Metric, Option, Stream } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { decodeBcs, encodeBcs } from "../../domain/codec.js"
import { decodeCommit } from "../../domain/commit.js"
import type { PeerId } from "../../domain/PeerId.js"
import { blake2b256 } from "../../domain/hash.js"
import { toHex } from "../../domain/bytes.js"
import { BlockRefBcs, CommitRefBcs, type BlockRef, type CommitRef } from "../../domain/refs.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type { CallError, NetworkService } from "../../services/Network.js"
import type { StoreError } from "../../services/Store.js"
import type { BlockToVerify, VerifierService } from "../../services/Verifier.js"
import type { CommitteeCache } from "./committeeCache.js"
import { bytesFetchedTotal } from "../metrics/definitions.js"
import { FETCH_BLOCKS_TIMEOUT_MS, FETCH_COMMITS_TIMEOUT_MS, MAX_FETCHED_BYTES_PER_STREAM, SMALL_CALL_TIMEOUT_MS } from "./constants.js"
import { MAX_BLOCK_BYTES_IN_ANSWER, MAX_FETCH_BLOCKS_ANSWER_BYTES } from "../../proto/limits.js"
import type { BlocksOutcome, CommitsOutcome, HeldCommits } from "./plan/types.js"

/** What the workers need. */
export interface SyncClientDeps {
  readonly network: NetworkService
  readonly verifier: VerifierService
  readonly committees: CommitteeCache
}

/** A protocol violation (undecodable or oversized answer) is the peer's fault; other call errors may not be. */
/**
 * Statuses an honest server answers with when it cannot serve right now: its load shedding (rate,
 * in-flight limits), a storage failure or a deadline cut (UNAVAILABLE), routes not registered yet or
 * any more (UNIMPLEMENTED: a node starting or stopping), its ban of us (PERMISSION_DENIED: a verdict
 * on us, not a lie about its data), and calls ended on our side. Any other error status is the peer
 * refusing to serve what it claimed.
 */
const HONEST_REFUSALS: ReadonlySet<string> = new Set([
  "RESOURCE_EXHAUSTED",
  "UNAVAILABLE",
  "UNIMPLEMENTED",
  "PERMISSION_DENIED",
  "CANCELLED",
  "DEADLINE_EXCEEDED"
])

const blame = (error: CallError): CommitsOutcome =>
  error._tag === "ProtocolViolation"
    ? { _tag: "Invalid", detail: error.message }
    : error._tag === "RpcRejected" && !HONEST_REFUSALS.has(error.code)
      ? { _tag: "Failed", detail: error.message, refused: true }
      : { _tag: "Failed", detail: error.message }

/** Blocks streamed for a FetchBlocks request, matched to it by digest (each hashed once, here). */
export interface StreamedBlocks {
  readonly received: ReadonlyArray<BlockToVerify>
  readonly bytes: number
  /** Set when the peer sent a block not asked for, or one twice. */
  readonly invalid?: string
  /** Set when the call failed; `protocolViolation` when that was the peer's fault. */
  readonly failed?: string
  readonly protocolViolation: boolean
}

/**
 * One FetchBlocks call for `refs` to `peer`: blocks are matched to the request by digest (not by
 * position), a message with more blocks than are still owed is refused before any of them is hashed,
 * and what arrived before an error still counts.
 */
const streamBlocksOnce = (network: NetworkService, peer: PeerId, refs: ReadonlyArray<BlockRef>, budget: number): Effect.Effect<StreamedBlocks> =>
  Effect.gen(function* () {
    const wanted = new Map(refs.map((r) => [toHex(r.digest), r] as const))
    const received = new Map<string, BlockToVerify>()
    let bytes = 0
    let invalid: string | undefined
    const request = { blockRefs: refs.map((r) => encodeBcs(BlockRefBcs, r)) }
    const streamed = yield* network.callStream(peer, P2pMethods.FetchBlocks, request, { timeout: FETCH_BLOCKS_TIMEOUT_MS }).pipe(
      Stream.takeWhile(() => bytes <= budget && invalid === undefined),
      Stream.runForEach((message) =>
        Effect.sync(() => {
          if (message.blocks.length > wanted.size - received.size) {
            invalid = `served ${message.blocks.length} blocks with ${wanted.size - received.size} still asked for`
            return
          }
          for (const block of message.blocks) {
            bytes += block.length
            const digest = blake2b256(block)
            const key = toHex(digest)
            const expected = wanted.get(key)
            if (expected === undefined || received.has(key)) {
              invalid = expected === undefined ? "served a block that was not asked for" : "served a block twice"
              return
            }
            received.set(key, { bytes: block, expected, digest })
          }
        })
      ),
      Effect.either
    )
    yield* Metric.incrementBy(bytesFetchedTotal, bytes)
    const failed = Either.isLeft(streamed) ? streamed.left.message : bytes > budget ? "stream exceeded 128 MiB" : undefined
    return {
      received: [...received.values()],
      bytes,
      protocolViolation: Either.isLeft(streamed) && streamed.left._tag === "ProtocolViolation",
      ...(invalid !== undefined ? { invalid } : {}),
      ...(failed !== undefined ? { failed } : {})
    }
  })

/**
 * Whether an answer that left blocks out may have been cut by the server's answer cap: an honest
 * server stops before the first block that would take its answer past the cap, so it has sent more
 * than the cap less one block. Such blocks are asked for again, and nobody is blamed for them.
 */
export const mayBeCutForSize = (answerBytes: number): boolean => answerBytes > MAX_FETCH_BLOCKS_ANSWER_BYTES - MAX_BLOCK_BYTES_IN_ANSWER

/**
 * FetchBlocks `refs` from `peer`, asking again for what an answer cut at the server's size cap left
 * out (`mayBeCutForSize`), until every block has come, the peer fails or misbehaves, an answer leaves
 * blocks out for another reason, or 128 MiB have arrived in all (then it counts as a failed call, as
 * one over-long stream did).
 */
export const streamBlocks = (network: NetworkService, peer: PeerId, refs: ReadonlyArray<BlockRef>): Effect.Effect<StreamedBlocks> =>
  Effect.gen(function* () {
    const received: Array<BlockToVerify> = []
    let bytes = 0
    let missing = refs
    for (;;) {
      const answer = yield* streamBlocksOnce(network, peer, missing, MAX_FETCHED_BYTES_PER_STREAM - bytes)
      received.push(...answer.received)
      bytes += answer.bytes
      const got = new Set(answer.received.flatMap((b) => (b.digest === undefined ? [] : [toHex(b.digest)])))
      missing = missing.filter((r) => !got.has(toHex(r.digest)))
      const again = answer.invalid === undefined && answer.failed === undefined && missing.length > 0 && got.size > 0 && mayBeCutForSize(answer.bytes)
      if (!again) return { ...answer, received, bytes }
    }
  })

/**
 * Verifies a commit response against the committee of its epoch (or holds it until that committee
 * exists): the cheap checks first (hash chain, link, certifier refs naming a quorum), then the
 * certifier blocks — a minimal quorum of them — fetched from the same peer and verified, their own
 * signatures before their transactions.
 */
/** What a commit answer was asked for: `start..end`, at least `minEpoch`, linked to `previousDigest` when known. */
export interface CommitsRequest {
  readonly start: number
  readonly end: number
  readonly minEpoch: number
  readonly previousDigest: Uint8Array | undefined
}

export const verifyCommitsResponse = (
  deps: SyncClientDeps,
  peer: PeerId,
  { end, minEpoch, previousDigest, start }: CommitsRequest,
  commits: ReadonlyArray<Uint8Array>,
  certifierRefs: ReadonlyArray<Uint8Array>
): Effect.Effect<CommitsOutcome, StoreError> =>
  Effect.gen(function* () {
    const first = commits[0]
    if (first === undefined) return { _tag: "Empty", start } as const
    const decoded = decodeCommit(first)
    if (Either.isLeft(decoded)) return { _tag: "Invalid", detail: decoded.left.message } as const
    const epoch = decoded.right.epoch
    if (epoch < minEpoch) return { _tag: "Invalid", detail: `commit ${start} claims epoch ${epoch}, but ${minEpoch} has begun` } as const
    const committee = yield* deps.committees.get(epoch)
    if (Option.isNone(committee)) {
      const held: HeldCommits = { epoch, commits, certifierRefs }
      return { _tag: "NeedsCommittee", held } as const
    }
    const checked = yield* Effect.either(
      deps.verifier.checkCommitRange(committee.value, {
        start,
        maxCommits: end - start + 1,
        commits,
        certifierRefs,
        ...(previousDigest !== undefined ? { previousDigest } : {})
      })
    )
    if (Either.isLeft(checked)) return { _tag: "Invalid", detail: checked.left.message } as const
    const { commits: verifiedCommits, certifiers } = checked.right
    const streamed = yield* streamBlocks(deps.network, peer, certifiers)
    if (streamed.invalid !== undefined) return { _tag: "Invalid", detail: `certifier blocks: ${streamed.invalid}` } as const
    if (streamed.failed !== undefined)
      return streamed.protocolViolation
        ? ({ _tag: "Invalid", detail: `certifier blocks: ${streamed.failed}` } as const)
        : ({ _tag: "Failed", detail: `certifier blocks: ${streamed.failed}` } as const)
    const last = verifiedCommits[verifiedCommits.length - 1]!
    const verified = yield* Effect.either(deps.verifier.verifyCertifiers(committee.value, last.ref, certifiers, streamed.received))
    return Either.match(verified, {
      onLeft: (e): CommitsOutcome => ({ _tag: "Invalid", detail: e.message }),
      onRight: (blocks): CommitsOutcome => ({ _tag: "Verified", commits: verifiedCommits, certifiers: blocks })
    })
  })

/** FetchCommits `start..end` from `peer`, then verification. */
export const fetchCommits = (
  deps: SyncClientDeps,
  peer: PeerId,
  start: number,
  end: number,
  minEpoch: number,
  previousDigest: Uint8Array | undefined
): Effect.Effect<CommitsOutcome, StoreError> =>
  deps.network.call(peer, P2pMethods.FetchCommits, { start, end }, { timeout: FETCH_COMMITS_TIMEOUT_MS }).pipe(
    Effect.matchEffect({
      onFailure: (error) => Effect.succeed(blame(error)),
      onSuccess: (response) =>
        Effect.zipRight(
          Metric.incrementBy(bytesFetchedTotal, [...response.commits, ...response.certifierRefs].reduce((n, b) => n + b.length, 0)),
          verifyCommitsResponse(deps, peer, { start, end, minEpoch, previousDigest }, response.commits, response.certifierRefs)
        )
    })
  )

/**
 * FetchBlocks `refs` from `peer` and verifies what arrives. A block that was not asked for, or does
 * not verify, marks the peer invalid.
 */
export const fetchBlocks = (
  deps: SyncClientDeps,
  peer: PeerId,
  epoch: number,
  refs: ReadonlyArray<BlockRef>
): Effect.Effect<BlocksOutcome, StoreError> =>
  Effect.gen(function* () {
    const streamed = yield* streamBlocks(deps.network, peer, refs)
    let invalid = streamed.invalid
    const committee = yield* deps.committees.get(epoch)
    const blocks: Array<VerifiedBlock> = []
    if (Option.isSome(committee) && streamed.received.length > 0) {
      const results = yield* deps.verifier.verifyBlocks(committee.value, streamed.received)
      for (const result of results) {
        if (Either.isRight(result)) blocks.push(result.right)
        else invalid ??= result.left.message
      }
    }
    const failed = streamed.failed
    return {
      blocks,
      ...(invalid !== undefined ? { invalid } : streamed.protocolViolation ? { invalid: failed as string } : {}),
      ...(failed !== undefined && !streamed.protocolViolation ? { failed } : {})
    }
  })

/** A peer's claimed heights, or nothing if it did not answer in time or answered nonsense. */
export const fetchAvailability = (
  network: NetworkService,
  peer: PeerId
): Effect.Effect<Option.Option<{ readonly highest: number; readonly lowest: number }>> =>
  network.call(peer, P2pMethods.GetCommitAvailability, {}, { timeout: SMALL_CALL_TIMEOUT_MS }).pipe(
    Effect.map((r) =>
      r.lowestAvailableCommit <= r.highestSyncedCommit + 1 ? Option.some({ highest: r.highestSyncedCommit, lowest: r.lowestAvailableCommit }) : Option.none()
    ),
    Effect.orElseSucceed(() => Option.none())
  )

/** Tells a peer about our new highest commit (a hint; failures are ignored). */
export const pushCommit = (network: NetworkService, peer: PeerId, ref: CommitRef): Effect.Effect<void> =>
  network.call(peer, P2pMethods.PushCommit, { commitRef: encodeBcs(CommitRefBcs, ref) }, { timeout: SMALL_CALL_TIMEOUT_MS }).pipe(Effect.ignore)

/** Decodes a pushed CommitRef (untrusted). */
export const decodePushedRef = (bytes: Uint8Array) => decodeBcs(CommitRefBcs, bytes)

/** Decodes a requested BlockRef (untrusted). */
export const decodeRequestedRef = (bytes: Uint8Array) => decodeBcs(BlockRefBcs, bytes)
