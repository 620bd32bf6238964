/**
 * The pure core of state sync: `schedule` turns the plan into commands (fetch these commits from that
 * peer, fetch these blocks, verify a held answer, deliver the head range). The sync loop owns one plan;
 * every event is a pure transition (`peers.ts`, `ranges.ts`) and nothing here waits, fetches or verifies,
 * so every rule can be tested directly and with properties.
 *
 * At most `window` ranges exist at once, and no new range opens while the blocks held (verified or
 * expected) would pass the block budget (`maxBlocksHeld`, lowered for large blocks by `maxBlockBytesHeld`:
 * budget.ts) — so memory stays bounded whatever heights peers claim and however large commits and
 * blocks are.
 */
import { BLOCKS_PER_CHUNK, MAX_COMMITS_PER_RANGE, RANGES_PER_BUDGET } from "../constants.js"
import { blockBudget } from "./budget.js"
import { banPeer, isBanned, offence, pickPeer, reserve, targetHeight } from "./peers.js"
import { previousDigestOf, queued, replaceRange, withPreviousDigest } from "./ranges.js"
import { defaultSyncPlanConfig, type Range, type SyncCommand, type SyncPlan, type SyncPlanConfig } from "./types.js"

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
 * Blocks per commit to budget ranges with: the most seen in verified commits, but never fewer than the
 * committee's size. A commit of a committee of n references about n blocks (one per member and round
 * since the previous leader), while the first commit of a chain or of an epoch holds one: learned
 * alone, "1 block per commit" from such a commit opened 100-commit ranges of thousands of blocks at 100
 * validators. Infinite while neither is known (only one range opens then).
 */
export const blocksPerCommitEstimate = (plan: SyncPlan, committeeSize: number): number => {
  const estimate = Math.max(plan.blocksPerCommit, committeeSize)
  return estimate > 0 ? estimate : Number.POSITIVE_INFINITY
}

/**
 * Decides what to do now: open new ranges up to the window and the target, give queued ranges and
 * missing blocks to peers, verify held responses whose committee is now installed, deliver the head.
 * `committeeSize`: members of the committee of `plan.nextEpoch` (0: unknown), the prior for the size
 * of commits (`blocksPerCommitEstimate`).
 */
export const schedule = (
  plan: SyncPlan,
  now: number,
  config: SyncPlanConfig = defaultSyncPlanConfig,
  committeeSize = 0
): { readonly plan: SyncPlan; readonly commands: ReadonlyArray<SyncCommand> } => {
  const commands: Array<SyncCommand> = []
  let next = plan

  // 1. Open ranges up to the window, the target and the block budget. A range whose commits are not
  //    verified yet is counted at the estimated blocks per commit (the committee's size, or more if
  //    more was seen); with no estimate, only one range opens (its size is unknown). Ranges are sized
  //    so that RANGES_PER_BUDGET of them fit the budget: with large commits (100 validators ≈ 100
  //    blocks each) ranges of 100 commits would hold 10,000 blocks, and one range at a time means
  //    fetching, verifying and writing one after the other instead of side by side.
  const target = targetHeight(next, now)
  const ranges = [...next.ranges]
  let nextId = next.nextId
  let lastEnd = ranges.length > 0 ? ranges[ranges.length - 1]!.end : next.nextIndex - 1
  const perCommit = blocksPerCommitEstimate(next, committeeSize)
  const budget = blockBudget(next, config)
  const rangeCommits = Number.isFinite(perCommit)
    ? Math.max(1, Math.min(MAX_COMMITS_PER_RANGE, Math.floor(budget / (RANGES_PER_BUDGET * perCommit))))
    : MAX_COMMITS_PER_RANGE
  let projected = ranges.reduce((n, r) => n + blocksHeldBy(r, perCommit), 0)
  while (ranges.length < config.window && lastEnd < target && (ranges.length === 0 || projected + rangeCommits * perCommit <= budget)) {
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
  //    One write at a time (the delivery worker reports back), so ranges reach the store in order.
  const head = next.ranges[0]
  if (head !== undefined && head.status._tag === "Ready" && next.delivering === 0 && now >= next.deliveryRetryAt) {
    commands.push({ _tag: "Deliver", range: head as Extract<SyncCommand, { _tag: "Deliver" }>["range"] })
    next = { ...next, delivering: head.id }
  }

  return { plan: next, commands }
}
