/**
 * The pure core of state sync: which commit ranges exist, what state each is in, which peer serves
 * what, and what to do next. The sync loop owns one `SyncPlan`; every event (a peer's height, a fetch
 * result, a delivery) is a pure transition here, and `schedule` turns the plan into commands (fetch
 * these commits from that peer, fetch these blocks, deliver this range). Nothing here waits, fetches
 * or verifies, so every rule can be tested directly and with properties.
 *
 * A range moves Queued → FetchingCommits → (AwaitingCommittee → VerifyingCommits →) FetchingBlocks →
 * Ready → delivered, and back to Queued whenever its peer fails. Ranges are contiguous from
 * `nextIndex` (the next commit to deliver); at most `window` exist at once, and no new range opens
 * while the blocks held (verified or expected) would pass `maxBlocksHeld` — so memory stays bounded
 * whatever heights peers claim and however large commits are.
 */
import type { VerifiedBlock } from "../../domain/block.js"
import type { InvalidDataReason } from "../metrics/definitions.js"
import type { VerifiedCommit } from "../../domain/commit.js"
import type { PeerId } from "../../domain/PeerId.js"
import { blockRefKey, type BlockRef } from "../../domain/refs.js"
import {
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
  BAN_DURATION_MS,
  DEFAULT_BLOCK_CHUNKS_IN_FLIGHT,
  DEFAULT_MAX_BLOCKS_HELD,
  DEFAULT_RANGE_WINDOW,
  BLOCKS_PER_CHUNK,
  MAX_COMMITS_PER_RANGE,
  MAX_REQUESTS_PER_PEER,
  RANGES_PER_BUDGET
} from "./constants.js"

/**
 * What we believe about a peer, for sync. Claims are hints; what a peer has *proven* (served with a
 * certificate that verified) is a fact: serving less than that later is a lie, while an empty answer
 * above it is only "not yet" (DESIGN.md §6.1).
 */
export interface SyncPeer {
  /** Claimed highest certified commit (−1: no usable claim). */
  readonly highest: number
  /** Highest commit it served in a verified answer (0: none yet). */
  readonly proven: number
  /** Claimed lowest available commit. */
  readonly lowest: number
  /** Our requests to it that have not completed. */
  readonly inflight: number
  /** Consecutive failed requests (reset by a success). */
  readonly failures: number
  readonly backoffUntil: number
  readonly bannedUntil: number
}

/** A peer did something only a liar or a forger does: sync bans it and reports it to the peer ledger. */
export interface SyncOffence {
  readonly peer: PeerId
  readonly reason: InvalidDataReason
  readonly detail: string
}

/** A response whose commits are of an epoch whose committee is not installed yet. */
export interface HeldCommits {
  readonly epoch: number
  readonly commits: ReadonlyArray<Uint8Array>
  readonly certifierRefs: ReadonlyArray<Uint8Array>
}

/** A chunk of block refs requested from a peer. */
export interface BlockChunk {
  readonly peer: PeerId
  readonly refs: ReadonlyArray<BlockRef>
}

export type RangeStatus =
  | { readonly _tag: "Queued" }
  | { readonly _tag: "FetchingCommits"; readonly peer: PeerId }
  | { readonly _tag: "AwaitingCommittee"; readonly peer: PeerId; readonly held: HeldCommits }
  | { readonly _tag: "VerifyingCommits"; readonly peer: PeerId }
  | {
      readonly _tag: "FetchingBlocks"
      /** The peer that served the commits (blamed if delivery finds the range does not link). */
      readonly servedBy: PeerId
      readonly commits: ReadonlyArray<VerifiedCommit>
      readonly certifiers: ReadonlyArray<VerifiedBlock>
      readonly have: ReadonlyMap<string, VerifiedBlock>
      /** Refs not yet requested (or to request again). */
      readonly pending: ReadonlyArray<BlockRef>
      readonly chunks: ReadonlyMap<number, BlockChunk>
    }
  | {
      readonly _tag: "Ready"
      readonly servedBy: PeerId
      readonly commits: ReadonlyArray<VerifiedCommit>
      readonly certifiers: ReadonlyArray<VerifiedBlock>
      readonly blocks: ReadonlyMap<string, VerifiedBlock>
    }

/** Commits `start..end` (inclusive). */
export interface Range {
  readonly id: number
  readonly start: number
  readonly end: number
  readonly status: RangeStatus
}

/** Limits of the plan (from config). */
export interface SyncPlanConfig {
  readonly window: number
  /** Blocks held in memory (fetched, or expected from verified commits) before no new range opens. */
  readonly maxBlocksHeld: number
  readonly blockChunksInFlight: number
  readonly maxRequestsPerPeer: number
}

/** The default limits. */
export const defaultSyncPlanConfig: SyncPlanConfig = {
  window: DEFAULT_RANGE_WINDOW,
  maxBlocksHeld: DEFAULT_MAX_BLOCKS_HELD,
  blockChunksInFlight: DEFAULT_BLOCK_CHUNKS_IN_FLIGHT,
  maxRequestsPerPeer: MAX_REQUESTS_PER_PEER
}

export interface SyncPlan {
  /** The next commit to deliver (highestSyncedCommit + 1). */
  readonly nextIndex: number
  /** The epoch of `nextIndex`: the newest committee we have. */
  readonly nextEpoch: number
  /** Contiguous from `nextIndex`, ascending. */
  readonly ranges: ReadonlyArray<Range>
  readonly peers: ReadonlyMap<PeerId, SyncPeer>
  /** Source of range and chunk ids. */
  readonly nextId: number
  /** The most blocks per commit seen in verified commits (0: none seen yet), for the block budget. */
  readonly blocksPerCommit: number
  /** Digest of commit `nextIndex − 1` when known: the head range must link to it. */
  readonly lastDigest?: Uint8Array
  /** Offences found by transitions, oldest first, until the loop takes them (`takeOffences`). */
  readonly offences: ReadonlyArray<SyncOffence>
}

/** What the loop should do. */
export type SyncCommand =
  | {
      readonly _tag: "FetchCommits"
      readonly rangeId: number
      readonly peer: PeerId
      readonly start: number
      readonly end: number
      readonly minEpoch: number
      /** Digest of commit `start − 1` when already verified: the answer must link to it (checked before any block is fetched). */
      readonly previousDigest?: Uint8Array
    }
  | {
      readonly _tag: "VerifyHeld"
      readonly rangeId: number
      readonly peer: PeerId
      readonly start: number
      readonly end: number
      readonly held: HeldCommits
      readonly previousDigest?: Uint8Array
    }
  | { readonly _tag: "FetchBlocks"; readonly rangeId: number; readonly chunkId: number; readonly peer: PeerId; readonly epoch: number; readonly refs: ReadonlyArray<BlockRef> }
  | { readonly _tag: "Deliver"; readonly range: Range & { readonly status: Extract<RangeStatus, { _tag: "Ready" }> } }

/** How a commit fetch (or the verification of a held response) ended. */
export type CommitsOutcome =
  | { readonly _tag: "Verified"; readonly commits: ReadonlyArray<VerifiedCommit>; readonly certifiers: ReadonlyArray<VerifiedBlock> }
  | { readonly _tag: "NeedsCommittee"; readonly held: HeldCommits }
  /** The peer answered with no commit from `start`: a lie if it had proven `start`, else "not yet". */
  | { readonly _tag: "Empty"; readonly start: number }
  /** Timeout, unreachable, or an error status: not proof of malice. */
  | { readonly _tag: "Failed"; readonly detail: string }
  /** The peer served data that does not verify. */
  | { readonly _tag: "Invalid"; readonly detail: string }

/** How a block chunk fetch ended: the verified blocks it brought, and whether the peer misbehaved. */
export interface BlocksOutcome {
  readonly blocks: ReadonlyArray<VerifiedBlock>
  /** Set when the peer served a block that does not verify or was not asked for. */
  readonly invalid?: string
  /** Set when the call failed (timeout, unavailable, status) — blocks received before it still count. */
  readonly failed?: string
}

/** A fresh plan at the delivered watermark. */
export const initialPlan = (highestSyncedCommit: number, nextEpoch: number, lastDigest?: Uint8Array): SyncPlan => ({
  nextIndex: highestSyncedCommit + 1,
  nextEpoch,
  ranges: [],
  peers: new Map(),
  nextId: 1,
  blocksPerCommit: 0,
  offences: [],
  ...(lastDigest !== undefined ? { lastDigest } : {})
})

/** The last verified commit of a range, once its commits are verified. */
const lastVerifiedDigest = (range: Range): Uint8Array | undefined => {
  const status = range.status
  if (status._tag !== "FetchingBlocks" && status._tag !== "Ready") return undefined
  return status.commits[status.commits.length - 1]?.ref.digest
}

/**
 * The digest range `id` must link to, when known: the last commit of the range before it (once
 * verified), or the last delivered commit for the head range. Ranges are contiguous, so the range
 * before it in the list ends at its start − 1.
 */
const previousDigestOf = (plan: SyncPlan, id: number): Uint8Array | undefined => {
  const at = plan.ranges.findIndex((r) => r.id === id)
  if (at < 0) return undefined
  return at === 0 ? (plan.ranges[0]!.start === plan.nextIndex ? plan.lastDigest : undefined) : lastVerifiedDigest(plan.ranges[at - 1]!)
}

const withPreviousDigest = (digest: Uint8Array | undefined) => (digest !== undefined ? { previousDigest: digest } : {})

// ---------------------------------------------------------------------------------------------------
// Peers

const noClaim: SyncPeer = { highest: -1, proven: 0, lowest: 0, inflight: 0, failures: 0, backoffUntil: 0, bannedUntil: 0 }

const updatePeer = (plan: SyncPlan, peer: PeerId, f: (p: SyncPeer) => SyncPeer): SyncPlan => {
  const peers = new Map(plan.peers)
  peers.set(peer, f(plan.peers.get(peer) ?? noClaim))
  return { ...plan, peers }
}

/** Whether the peer is banned at `now`. */
export const isBanned = (peer: SyncPeer | undefined, now: number): boolean => peer !== undefined && peer.bannedUntil > now

/** A peer reported its heights (GetCommitAvailability). Claims of banned peers are ignored. */
export const onPeerHeights = (plan: SyncPlan, peer: PeerId, highest: number, lowest: number, now: number): SyncPlan => {
  if (isBanned(plan.peers.get(peer), now)) return plan
  return updatePeer(plan, peer, (p) => ({ ...p, highest, lowest }))
}

/** A peer pushed a new commit index (PushCommit): it can only raise its claim. */
export const onPeerPushed = (plan: SyncPlan, peer: PeerId, index: number, now: number): SyncPlan => {
  const current = plan.peers.get(peer)
  if (current === undefined || isBanned(current, now)) return plan
  return updatePeer(plan, peer, (p) => ({ ...p, highest: Math.max(p.highest, index) }))
}

/** A peer disconnected: its claims go; its in-flight requests fail on their own. */
export const onPeerGone = (plan: SyncPlan, peer: PeerId): SyncPlan => {
  const current = plan.peers.get(peer)
  if (current === undefined) return plan
  // Keep the entry while requests are in flight or a ban runs, so counters and bans stay right.
  return updatePeer(plan, peer, (p) => ({ ...p, highest: -1 }))
}

const succeeded = (plan: SyncPlan, peer: PeerId): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, inflight: Math.max(0, p.inflight - 1), failures: 0 }))

const failed = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan =>
  updatePeer(plan, peer, (p) => {
    const failures = p.failures + 1
    return {
      ...p,
      inflight: Math.max(0, p.inflight - 1),
      failures,
      backoffUntil: now + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1))
    }
  })

const banned = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, inflight: Math.max(0, p.inflight - 1), highest: -1, bannedUntil: now + BAN_DURATION_MS }))

/** Bans a peer outright (e.g. it pushed nonsense); its claims are dropped. */
export const banPeer = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, highest: -1, bannedUntil: now + BAN_DURATION_MS }))

/** Records an offence for the loop to report. */
const offence = (plan: SyncPlan, peer: PeerId, reason: InvalidDataReason, detail: string): SyncPlan => ({
  ...plan,
  offences: [...plan.offences, { peer, reason, detail }]
})

/** The offences recorded since the last call, and the plan without them. */
export const takeOffences = (plan: SyncPlan): { readonly plan: SyncPlan; readonly offences: ReadonlyArray<SyncOffence> } =>
  plan.offences.length === 0 ? { plan, offences: [] } : { plan: { ...plan, offences: [] }, offences: plan.offences }

/**
 * An empty answer from `start` by a peer that has not proven `start`: "not yet" (its claim ran ahead of
 * what it can serve, or raced a push). No penalty; it backs off like a failure and its claim drops below
 * `start` until it claims again.
 */
const notYet = (plan: SyncPlan, peer: PeerId, start: number, now: number): SyncPlan =>
  updatePeer(failed(plan, peer, now), peer, (p) => ({ ...p, highest: Math.min(p.highest, start - 1) }))

// ---------------------------------------------------------------------------------------------------
// Ranges

const replaceRange = (plan: SyncPlan, id: number, f: (r: Range) => ReadonlyArray<Range>): SyncPlan => ({
  ...plan,
  ranges: plan.ranges.flatMap((r) => (r.id === id ? f(r) : [r]))
})

const findRange = (plan: SyncPlan, id: number): Range | undefined => plan.ranges.find((r) => r.id === id)

const queued: RangeStatus = { _tag: "Queued" }

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
const certifiersOf = (range: Range | undefined): ReadonlyArray<VerifiedBlock> =>
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
      const proven = updatePeer(succeeded(plan, peer), peer, (p) => ({ ...p, proven: Math.max(p.proven, last?.commit.index ?? 0) }))
      const next = { ...proven, blocksPerCommit: Math.max(plan.blocksPerCommit, Math.ceil(blocks / Math.max(1, outcome.commits.length))) }
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
      return current ? replaceRange(next, rangeId, (r) => [{ ...r, status: queued }]) : next
    }
    case "Failed": {
      const next = failed(plan, peer, now)
      return current ? replaceRange(next, rangeId, (r) => [{ ...r, status: queued }]) : next
    }
    case "Invalid": {
      const next = offence(banned(plan, peer, now), peer, "invalid_commits", outcome.detail)
      return current ? replaceRange(next, rangeId, (r) => [{ ...r, status: queued }]) : next
    }
  }
}

/** A block chunk fetch ended: keep what verified, request the rest again, penalise as deserved. */
export const onBlocksOutcome = (plan: SyncPlan, rangeId: number, chunkId: number, peer: PeerId, outcome: BlocksOutcome, now: number): SyncPlan => {
  let next =
    outcome.invalid !== undefined
      ? offence(banned(plan, peer, now), peer, "invalid_blocks", outcome.invalid)
      : outcome.failed !== undefined
        ? failed(plan, peer, now)
        : succeeded(plan, peer)
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
export const onDelivered = (plan: SyncPlan, rangeId: number, nextEpoch: number): SyncPlan => {
  const head = plan.ranges[0]
  if (head === undefined || head.id !== rangeId) return plan
  const lastDigest = lastVerifiedDigest(head)
  const { lastDigest: _previous, ...rest } = plan
  return { ...rest, ranges: plan.ranges.slice(1), nextIndex: head.end + 1, nextEpoch, ...(lastDigest !== undefined ? { lastDigest } : {}) }
}

/**
 * The store refused the head range (it does not link to what we have): its server lied in a way
 * verification could not see alone. Ban it and fetch the range again.
 */
export const onDeliveryRefused = (plan: SyncPlan, rangeId: number, now: number): SyncPlan => {
  const range = findRange(plan, rangeId)
  if (range === undefined || range.status._tag !== "Ready") return plan
  const servedBy = range.status.servedBy
  const next = offence(banPeer(plan, servedBy, now), servedBy, "unlinked_range", `range ${range.start}..${range.end} does not link to the stored chain`)
  return replaceRange(next, rangeId, (r) => [{ ...r, status: queued }])
}

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

// ---------------------------------------------------------------------------------------------------
// Scheduling

/** The highest commit any usable peer claims (the sync target). */
export const targetHeight = (plan: SyncPlan, now: number): number => {
  let target = plan.nextIndex - 1
  for (const p of plan.peers.values()) if (!isBanned(p, now) && p.highest > target) target = p.highest
  return target
}

const available = (p: SyncPeer, now: number, config: SyncPlanConfig): boolean =>
  !isBanned(p, now) && p.backoffUntil <= now && p.inflight < config.maxRequestsPerPeer

/** The least loaded usable peer that claims `index` (ties: fewer failures, then rotation by `salt`). */
const pickPeer = (plan: SyncPlan, index: number, now: number, config: SyncPlanConfig, salt: number): PeerId | undefined => {
  const candidates = [...plan.peers.entries()].filter(([, p]) => available(p, now, config) && p.lowest <= index && p.highest >= index)
  if (candidates.length === 0) return undefined
  candidates.sort(([a, pa], [b, pb]) => pa.inflight - pb.inflight || pa.failures - pb.failures || (a < b ? -1 : 1))
  const best = candidates.filter(([, p]) => p.inflight === candidates[0]![1].inflight && p.failures === candidates[0]![1].failures)
  return best[salt % best.length]![0]
}

const reserve = (plan: SyncPlan, peer: PeerId): SyncPlan => updatePeer(plan, peer, (p) => ({ ...p, inflight: p.inflight + 1 }))

/** Blocks a range holds or will hold: exact once its commits are verified, estimated before. */
const blocksHeldBy = (range: Range, perCommit: number): number => {
  switch (range.status._tag) {
    case "FetchingBlocks":
      return range.status.have.size + range.status.pending.length + [...range.status.chunks.values()].reduce((n, c) => n + c.refs.length, 0)
    case "Ready":
      return range.status.blocks.size
    default:
      return (range.end - range.start + 1) * perCommit
  }
}

/**
 * Decides what to do now: open new ranges up to the window and the target, give queued ranges and
 * missing blocks to peers, verify held responses whose committee is now installed, deliver the head.
 */
export const schedule = (
  plan: SyncPlan,
  now: number,
  config: SyncPlanConfig = defaultSyncPlanConfig
): { readonly plan: SyncPlan; readonly commands: ReadonlyArray<SyncCommand> } => {
  const commands: Array<SyncCommand> = []
  let next = plan

  // 1. Open ranges up to the window, the target and the block budget. A range whose commits are not
  //    verified yet is counted at the largest blocks-per-commit seen so far; until one has been seen,
  //    only one range opens (its size is unknown). Once it is known, ranges are sized so that
  //    RANGES_PER_BUDGET of them fit the budget: with large commits (100 validators ≈ 100 blocks each)
  //    ranges of 100 commits would hold 10,000 blocks, and one range at a time means fetching,
  //    verifying and writing one after the other instead of side by side.
  const target = targetHeight(next, now)
  const ranges = [...next.ranges]
  let nextId = next.nextId
  let lastEnd = ranges.length > 0 ? ranges[ranges.length - 1]!.end : next.nextIndex - 1
  const perCommit = next.blocksPerCommit > 0 ? next.blocksPerCommit : Number.POSITIVE_INFINITY
  const rangeCommits = Number.isFinite(perCommit)
    ? Math.max(1, Math.min(MAX_COMMITS_PER_RANGE, Math.floor(config.maxBlocksHeld / (RANGES_PER_BUDGET * perCommit))))
    : MAX_COMMITS_PER_RANGE
  let projected = ranges.reduce((n, r) => n + blocksHeldBy(r, perCommit), 0)
  while (ranges.length < config.window && lastEnd < target && (ranges.length === 0 || projected + rangeCommits * perCommit <= config.maxBlocksHeld)) {
    const end = Math.min(lastEnd + rangeCommits, target)
    ranges.push({ id: nextId++, start: lastEnd + 1, end, status: queued })
    projected += (end - lastEnd) * (Number.isFinite(perCommit) ? perCommit : 0)
    lastEnd = end
  }
  next = { ...next, ranges, nextId }

  // 2. Held responses: verify those of the installed epoch; a held range that should already be of
  //    that epoch (it is the head) but is not was a lie.
  for (const range of next.ranges) {
    if (range.status._tag !== "AwaitingCommittee") continue
    const { peer, held } = range.status
    const isHead = range.start === next.nextIndex
    if (isBanned(next.peers.get(peer), now)) {
      // Banned since it answered (it lied elsewhere): its held answer is not worth verifying.
      next = replaceRange(next, range.id, (r) => [{ ...r, status: queued }])
    } else if (held.epoch === next.nextEpoch) {
      commands.push({ _tag: "VerifyHeld", rangeId: range.id, peer, start: range.start, end: range.end, held, ...withPreviousDigest(previousDigestOf(next, range.id)) })
      next = reserve(replaceRange(next, range.id, (r) => [{ ...r, status: { _tag: "VerifyingCommits", peer } }]), peer)
    } else if (held.epoch < next.nextEpoch || isHead) {
      const detail = `commit ${range.start} claims epoch ${held.epoch}, but epoch ${next.nextEpoch} is next`
      next = replaceRange(offence(banPeer(next, peer, now), peer, "invalid_commits", detail), range.id, (r) => [{ ...r, status: queued }])
    }
  }

  // 3. Queued ranges to peers.
  for (const range of next.ranges) {
    if (range.status._tag !== "Queued") continue
    const peer = pickPeer(next, range.start, now, config, range.id)
    if (peer === undefined) continue
    const claim = next.peers.get(peer)!.highest
    commands.push({
      _tag: "FetchCommits",
      rangeId: range.id,
      peer,
      start: range.start,
      end: Math.min(range.end, claim),
      minEpoch: next.nextEpoch,
      ...withPreviousDigest(previousDigestOf(next, range.id))
    })
    next = reserve(replaceRange(next, range.id, (r) => [{ ...r, status: { _tag: "FetchingCommits", peer } }]), peer)
  }

  // 4. Missing blocks to peers that claim the range, in chunks, within the global chunk budget.
  let chunksInFlight = next.ranges.reduce((n, r) => n + (r.status._tag === "FetchingBlocks" ? r.status.chunks.size : 0), 0)
  let id = next.nextId
  for (const range of next.ranges) {
    if (range.status._tag !== "FetchingBlocks") continue
    let status = range.status
    while (status.pending.length > 0 && chunksInFlight < config.blockChunksInFlight) {
      const peer = pickPeer(next, range.end, now, config, id)
      if (peer === undefined) break
      const refs = status.pending.slice(0, BLOCKS_PER_CHUNK)
      const chunkId = id++
      const chunks = new Map(status.chunks)
      chunks.set(chunkId, { peer, refs })
      status = { ...status, pending: status.pending.slice(refs.length), chunks }
      commands.push({ _tag: "FetchBlocks", rangeId: range.id, chunkId, peer, epoch: status.commits[0]!.commit.epoch, refs })
      next = reserve(next, peer)
      chunksInFlight++
    }
    const updated = status
    next = replaceRange(next, range.id, (r) => [{ ...r, status: updated }])
  }
  next = { ...next, nextId: id }

  // 5. Deliver the head when it is ready.
  const head = next.ranges[0]
  if (head !== undefined && head.status._tag === "Ready") commands.push({ _tag: "Deliver", range: head as Extract<SyncCommand, { _tag: "Deliver" }>["range"] })

  return { plan: next, commands }
}
