/**
 * Commit ranges, as pure transitions of the plan: what a fetch or verification outcome does to its range
 * (and to the peer that served it), delivery, and the links between ranges (each range must chain to the
 * last verified digest before it, checked before any of its blocks is fetched).
 */
import type { VerifiedBlock } from "../../../domain/block.js"
import type { VerifiedCommit } from "../../../domain/commit.js"
import type { PeerId } from "../../../domain/PeerId.js"
import { blockRefKey, type BlockRef } from "../../../domain/refs.js"
import { BACKOFF_BASE_MS } from "../constants.js"
import { learnBlockBytes } from "./budget.js"
import { banned, banPeer, claimUnserved, failed, notYet, offence, proved, succeeded, targetHeight, updatePeer } from "./peers.js"
import type { BlocksOutcome, CommitsOutcome, Range, RangeStatus, SyncPlan } from "./types.js"

/** The last verified commit of a range, once its commits are verified. */
export const lastVerifiedDigest = (range: Range): Uint8Array | undefined => {
  const status = range.status
  if (status._tag !== "FetchingBlocks" && status._tag !== "Ready") return undefined
  return status.commits[status.commits.length - 1]?.ref.digest
}

/**
 * The digest range `id` must link to, when known: the last commit of the range before it (once
 * verified), or the last delivered commit for the head range. Ranges are contiguous, so the range
 * before it in the list ends at its start − 1.
 */
export const previousDigestOf = (plan: SyncPlan, id: number): Uint8Array | undefined => {
  const at = plan.ranges.findIndex((r) => r.id === id)
  if (at < 0) return undefined
  return at === 0 ? (plan.ranges[0]!.start === plan.nextIndex ? plan.lastDigest : undefined) : lastVerifiedDigest(plan.ranges[at - 1]!)
}

export const withPreviousDigest = (digest: Uint8Array | undefined) => (digest !== undefined ? { previousDigest: digest } : {})

export const replaceRange = (plan: SyncPlan, id: number, f: (r: Range) => ReadonlyArray<Range>): SyncPlan => ({
  ...plan,
  ranges: plan.ranges.flatMap((r) => (r.id === id ? f(r) : [r]))
})

export const findRange = (plan: SyncPlan, id: number): Range | undefined => plan.ranges.find((r) => r.id === id)

export const queued: RangeStatus = { _tag: "Queued" }

/** Block refs of commits, each once, in commit order. */
const blockRefsOf = (commits: ReadonlyArray<VerifiedCommit>): Array<BlockRef> => {
  const seen = new Set<string>()
  const out: Array<BlockRef> = []
  for (const c of commits)
    for (const ref of c.commit.blocks) {
      const key = blockRefKey(ref)
      if (!seen.has(key)) {
        seen.add(key)
        out.push(ref)
      }
    }
  return out
}

/** The verified certifier blocks a range holds (they certify its last commit). */
export const certifiersOf = (range: Range | undefined): ReadonlyArray<VerifiedBlock> =>
  range !== undefined && (range.status._tag === "FetchingBlocks" || range.status._tag === "Ready") ? range.status.certifiers : []

const fetchingBlocks = (
  servedBy: PeerId,
  commits: ReadonlyArray<VerifiedCommit>,
  certifiers: ReadonlyArray<VerifiedBlock>,
  alreadyVerified: ReadonlyArray<VerifiedBlock>
): RangeStatus => {
  // Blocks verified already are not fetched again: the certifiers of the range before (they vote for
  // its last commit, so this range's first commit lists them) and our own.
  const have = new Map<string, VerifiedBlock>()
  const wanted = blockRefsOf(commits)
  const wantedKeys = new Set(wanted.map(blockRefKey))
  for (const b of [...alreadyVerified, ...certifiers]) if (wantedKeys.has(blockRefKey(b.ref))) have.set(blockRefKey(b.ref), b)
  return readyIfComplete({
    _tag: "FetchingBlocks",
    servedBy,
    commits,
    certifiers,
    have,
    pending: wanted.filter((r) => !have.has(blockRefKey(r))),
    chunks: new Map()
  })
}

const readyIfComplete = (status: Extract<RangeStatus, { _tag: "FetchingBlocks" }>): RangeStatus =>
  status.pending.length === 0 && status.chunks.size === 0
    ? { _tag: "Ready", servedBy: status.servedBy, commits: status.commits, certifiers: status.certifiers, blocks: status.have }
    : status

/**
 * A commit fetch (or held-response verification) for `rangeId` by `peer` ended. Results for a range
 * that moved on (a late answer after a timeout) only settle the peer's counters.
 */
export const onCommitsOutcome = (plan: SyncPlan, rangeId: number, peer: PeerId, outcome: CommitsOutcome, now: number): SyncPlan => {
  const range = findRange(plan, rangeId)
  const current =
    range !== undefined &&
    (range.status._tag === "FetchingCommits" || range.status._tag === "VerifyingCommits") &&
    range.status.peer === peer
  switch (outcome._tag) {
    case "Verified": {
      const blocks = outcome.commits.reduce((n, c) => n + c.commit.blocks.length, 0)
      const last = outcome.commits[outcome.commits.length - 1]
      const proven = proved(plan, peer, last?.commit.index ?? 0)
      const next = learnBlockBytes(
        { ...proven, blocksPerCommit: Math.max(plan.blocksPerCommit, Math.ceil(blocks / Math.max(1, outcome.commits.length))) },
        outcome.certifiers
      )
      if (!current || range === undefined) return next
      const coveredEnd = last === undefined ? range.start - 1 : last.commit.index
      if (coveredEnd < range.start || coveredEnd > range.end) return { ...next, ranges: next.ranges.map((r) => (r.id === rangeId ? { ...r, status: queued } : r)) }
      // A shorter answer (epoch boundary, or the peer's height): the rest becomes a new queued range.
      const rest: Array<Range> = coveredEnd < range.end ? [{ id: next.nextId, start: coveredEnd + 1, end: range.end, status: queued }] : []
      const before = certifiersOf(next.ranges[next.ranges.findIndex((r) => r.id === rangeId) - 1])
      const withRest = replaceRange(next, rangeId, (r) => [{ ...r, end: coveredEnd, status: fetchingBlocks(peer, outcome.commits, outcome.certifiers, before) }, ...rest])
      return { ...withRest, nextId: next.nextId + rest.length }
    }
    case "NeedsCommittee": {
      const next = succeeded(plan, peer)
      if (!current) return next
      return replaceRange(next, rangeId, (r) => [{ ...r, status: { _tag: "AwaitingCommittee", peer, held: outcome.held } }])
    }
    case "Empty": {
      // Nothing from `start`. Having served a certified commit at or above `start` before, it holds
      // `start` (an honest store never loses a synced commit): a lie. Otherwise only "not yet".
      const proven = plan.peers.get(peer)?.proven ?? 0
      const next =
        outcome.start <= proven
          ? offence(banned(plan, peer, now), peer, "withheld_commits", `served nothing from commit ${outcome.start} after proving commit ${proven}`)
          : notYet(plan, peer, outcome.start, now)
      return dropUnclaimedRanges(current ? replaceRange(next, rangeId, (r) => [{ ...r, status: queued }]) : next, now)
    }
    case "Failed": {
      // Only a fetch still current says which commits went unserved; a late answer is an ordinary failure.
      const next = current && range !== undefined ? claimUnserved(plan, peer, range.start, outcome.refused === true, now) : failed(plan, peer, now)
      return dropUnclaimedRanges(current ? replaceRange(next, rangeId, (r) => [{ ...r, status: queued }]) : next, now)
    }
    case "Invalid": {
      const next = offence(banned(plan, peer, now), peer, "invalid_commits", outcome.detail)
      return current ? replaceRange(next, rangeId, (r) => [{ ...r, status: queued }]) : next
    }
  }
}

/**
 * Queued ranges at the end of the window that no usable peer's claim reaches any more (a claim that was
 * discarded or lowered had opened them) are closed: a claim nobody serves must not keep holding window
 * slots and block budget. `schedule` opens them again when a claim reaches them.
 */
export const dropUnclaimedRanges = (plan: SyncPlan, now: number): SyncPlan => {
  const target = targetHeight(plan, now)
  let keep = plan.ranges.length
  while (keep > 0 && plan.ranges[keep - 1]!.status._tag === "Queued" && plan.ranges[keep - 1]!.start > target) keep--
  return keep === plan.ranges.length ? plan : { ...plan, ranges: plan.ranges.slice(0, keep) }
}

/** A block chunk fetch ended: keep what verified, request the rest again, penalise as deserved. */
export const onBlocksOutcome = (plan: SyncPlan, rangeId: number, chunkId: number, peer: PeerId, outcome: BlocksOutcome, now: number): SyncPlan => {
  // Blocks that verified tell the block budget how large blocks are, whatever else the peer did.
  const sized = learnBlockBytes(plan, outcome.blocks)
  let next =
    outcome.invalid !== undefined
      ? offence(banned(sized, peer, now), peer, "invalid_blocks", outcome.invalid)
      : outcome.failed !== undefined
        ? failed(sized, peer, now)
        : succeeded(sized, peer)
  const range = findRange(next, rangeId)
  if (range === undefined || range.status._tag !== "FetchingBlocks") return next
  const status = range.status
  const chunk = status.chunks.get(chunkId)
  if (chunk === undefined) return next
  const have = new Map(status.have)
  for (const b of outcome.blocks) have.set(blockRefKey(b.ref), b)
  const missing = chunk.refs.filter((r) => !have.has(blockRefKey(r)))
  if (missing.length > 0 && outcome.invalid === undefined && outcome.failed === undefined) {
    const claims = next.peers.get(peer)
    if (claims !== undefined && claims.proven >= range.end && claims.lowest <= range.start) {
      // It proved it holds every commit of the range (an honest store writes a commit with its blocks),
      // yet left some of their blocks out: a lie.
      next = offence(banPeer(next, peer, now), peer, "withheld_blocks", `left out ${missing.length} block(s) of commits ${range.start}..${range.end} after proving commit ${claims.proven}`)
    } else {
      // It answered but left blocks out: it does not have what it claimed; try others for those.
      next = updatePeer(next, peer, (p) => ({ ...p, failures: p.failures + 1, backoffUntil: now + BACKOFF_BASE_MS }))
    }
  }
  const chunks = new Map(status.chunks)
  chunks.delete(chunkId)
  const updated = readyIfComplete({ ...status, have, chunks, pending: [...status.pending, ...missing] })
  return replaceRange(next, rangeId, (r) => [{ ...r, status: updated }])
}

/** The head range was written to the store: move the watermark past it. */
export const onDelivered = (delivering: SyncPlan, rangeId: number, nextEpoch: number): SyncPlan => {
  const plan = deliveryEnded(delivering, rangeId)
  const head = plan.ranges[0]
  if (head === undefined || head.id !== rangeId || head.status._tag !== "Ready") return plan
  const lastDigest = lastVerifiedDigest(head)
  const { lastDigest: _previous, ...rest } = plan
  return { ...rest, ranges: plan.ranges.slice(1), nextIndex: head.end + 1, nextEpoch, ...(lastDigest !== undefined ? { lastDigest } : {}) }
}

/**
 * The store refused the head range (it does not link to what we have): its server lied in a way
 * verification could not see alone. Ban it and fetch the range again.
 */
export const onDeliveryRefused = (delivering: SyncPlan, rangeId: number, now: number): SyncPlan => {
  const plan = deliveryEnded(delivering, rangeId)
  const range = findRange(plan, rangeId)
  if (range === undefined || range.status._tag !== "Ready") return plan
  const servedBy = range.status.servedBy
  const next = offence(banPeer(plan, servedBy, now), servedBy, "unlinked_range", `range ${range.start}..${range.end} does not link to the stored chain`)
  return replaceRange(next, rangeId, (r) => [{ ...r, status: queued }])
}

/** The delivery worker ended its write of `rangeId` (whatever the result): the next one may start. */
const deliveryEnded = (plan: SyncPlan, rangeId: number): SyncPlan => (plan.delivering === rangeId ? { ...plan, delivering: 0 } : plan)

/** The store write of the head range failed (I/O): it stays Ready and is written again after `retryMs`. */
export const onDeliveryFailed = (plan: SyncPlan, rangeId: number, now: number, retryMs: number): SyncPlan => ({
  ...deliveryEnded(plan, rangeId),
  deliveryRetryAt: now + retryMs
})

/** The store moved on without us (the validator path delivered commits): drop ranges below it. */
export const onWatermarkAdvanced = (plan: SyncPlan, highestSyncedCommit: number, nextEpoch: number): SyncPlan => {
  if (highestSyncedCommit < plan.nextIndex) return plan
  const nextIndex = highestSyncedCommit + 1
  // Ranges that end below the new watermark are done; a range straddling it restarts from the watermark.
  const ranges = plan.ranges.flatMap((r): Array<Range> => (r.end < nextIndex ? [] : r.start >= nextIndex ? [r] : [{ ...r, start: nextIndex, status: queued }]))
  // The validator path wrote commits we did not verify here: their last digest is not known to the plan.
  const { lastDigest: _stale, ...rest } = plan
  return { ...rest, nextIndex, nextEpoch, ranges }
}

