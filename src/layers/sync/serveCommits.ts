/**
 * The serving side of state sync, over the store: what `FetchCommits` and `FetchBlocks` answer
 * (DESIGN.md §4). Requests arrive validated (P2pServer); these functions bound every answer — at most
 * 100 commits, never across an epoch, never more bytes than a message can carry, only a certified
 * tail — so no request can make the node do unbounded work. The certification is named by reference
 * (the voters' BlockRefs, at most one per author), which always fits a message however large the
 * blocks: at 100 validators 67 certifier blocks of 1,000 transactions are ≈ 17 MB, their refs 3.2 KB.
 */
import { Effect, Option, Stream } from "effect"
import { bytesEqual } from "../../domain/bytes.js"
import type { VerifiedCommit } from "../../domain/commit.js"
import { reachesQuorum, type Committee } from "../../domain/committee.js"
import { MAX_COMMITTEE_SIZE } from "../../domain/limits.js"
import { blockRefKey, type BlockRef, type CommitRef } from "../../domain/refs.js"
import { MAX_BLOCK_BYTES_IN_ANSWER, MAX_FETCH_BLOCKS_ANSWER_BYTES } from "../../proto/limits.js"
import type { StoreError, StoreService } from "../../services/Store.js"
import { MAX_BLOCKS_PER_FETCH, MAX_COMMITS_PER_RANGE } from "./constants.js"

/**
 * Payload budget of one response message: under the 4 MiB gRPC limit with room for the protobuf
 * envelope (a few bytes of framing per entry).
 */
export const RESPONSE_PAYLOAD_BUDGET = MAX_BLOCK_BYTES_IN_ANSWER

/** Upper bound on stored votes read for one commit: a vote per block, a few blocks per author. */
const MAX_VOTES_READ = MAX_COMMITTEE_SIZE * 4

/** A FetchCommits answer: consecutive commits of one epoch, the last one certified by the named blocks. */
export interface CommitsAnswer {
  readonly commits: ReadonlyArray<VerifiedCommit>
  /** Stored blocks voting for the last commit: one per author, their stake a quorum. */
  readonly certifierRefs: ReadonlyArray<BlockRef>
}

const empty: CommitsAnswer = { commits: [], certifierRefs: [] }

/** Bytes reserved for the certifier refs: one 48-byte ref (+ framing) per member of the largest committee. */
const CERTIFIER_REFS_BUDGET = MAX_COMMITTEE_SIZE * 52

/**
 * Commits `start..end` as we can prove them: at most 100, cut at our certified tip (`certifiedTip.ts`), at
 * the end of the first commit's epoch and at the message budget, then trailing commits without quorum
 * votes dropped (an answer cut below the tip by the budget or the epoch ends on an uncertified commit).
 */
export const serveFetchCommits = (
  store: StoreService,
  committeeOf: (epoch: number) => Effect.Effect<Option.Option<Committee>, StoreError>,
  start: number,
  end: number,
  certifiedTip: number
): Effect.Effect<CommitsAnswer, StoreError> =>
  Effect.gen(function* () {
    const { highestSyncedCommit, lowestAvailableCommit } = yield* store.watermarks
    const from = Math.max(start, lowestAvailableCommit)
    // Nothing above the certified tip can be proven (its votes are not stored yet): not even read.
    const to = Math.min(end, start + MAX_COMMITS_PER_RANGE - 1, highestSyncedCommit, certifiedTip)
    if (from !== start || to < from) return empty
    const scanned = yield* store.scanCommits(from, to, MAX_COMMITS_PER_RANGE)
    const first = scanned[0]
    if (first === undefined) return empty
    const epoch = first.commit.epoch
    const lastOfEpoch = yield* store.lastCommitOfEpoch(epoch)
    const commits: Array<VerifiedCommit> = []
    let bytes = 0
    for (const c of scanned) {
      if (c.commit.epoch !== epoch || (Option.isSome(lastOfEpoch) && c.commit.index > lastOfEpoch.value)) break
      if (bytes + c.bytes.length > RESPONSE_PAYLOAD_BUDGET - CERTIFIER_REFS_BUDGET) break
      commits.push(c)
      bytes += c.bytes.length
    }
    const committee = yield* committeeOf(epoch)
    if (Option.isNone(committee)) return empty
    // Walk back from the last commit to the first one a quorum of stored blocks votes for.
    while (commits.length > 0) {
      const last = commits[commits.length - 1] as VerifiedCommit
      const certifierRefs = yield* quorumVoters(store, committee.value, last.ref)
      if (Option.isSome(certifierRefs)) return { commits, certifierRefs: certifierRefs.value }
      commits.pop()
    }
    return empty
  })

/**
 * The stored blocks voting for `ref` (one per author of the committee, an equivocating author counted
 * once as in the check) when their stake is a quorum: the proof that `ref` is certified.
 */
export const quorumVoters = (store: StoreService, committee: Committee, ref: CommitRef): Effect.Effect<Option.Option<ReadonlyArray<BlockRef>>, StoreError> =>
  Effect.map(store.commitVotes(ref.index, MAX_VOTES_READ), (stored) => {
    const votes = stored.filter((v) => bytesEqual(v.commit.digest, ref.digest))
    const voters = onePerAuthor(votes.map((v) => v.voter), committee.authorities.length)
    return reachesQuorum(committee, voters.map((r) => r.author)) ? Option.some(voters) : Option.none()
  })

/** The first vote of each author of the committee (an equivocating author counts once, as in the check). */
const onePerAuthor = (voters: ReadonlyArray<BlockRef>, committeeSize: number): Array<BlockRef> => {
  const seen = new Set<number>()
  const out: Array<BlockRef> = []
  for (const ref of voters) {
    if (seen.has(ref.author) || ref.author >= committeeSize) continue
    seen.add(ref.author)
    out.push(ref)
  }
  return out
}

/**
 * `refs` without repeats, in the order asked: a block named twice is read and sent once. Repeats are
 * by digest, as the client matches blocks (a second block under one digest would be "served twice").
 */
export const distinctRefs = (refs: ReadonlyArray<BlockRef>): ReadonlyArray<BlockRef> => {
  const seen = new Set<string>()
  return refs.filter((ref) => {
    const key = blockRefKey(ref)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** Where a FetchBlocks answer stands between two messages. */
interface AnswerCursor {
  /** The next ref to read. */
  readonly index: number
  /** A block read for the last message that did not fit it: the first of the next one. */
  readonly carry: Uint8Array | undefined
  /** Block bytes of the answer so far (the carried block included). */
  readonly answered: number
}

/**
 * The stored blocks among `refs` (at most 1,000 asked), as a stream of messages of at most the
 * payload budget each, read lazily: the blocks of a message are read from the store only when the
 * transport pulls it (under HTTP/2 flow control), so an answer holds at most one message and one
 * block in memory, whoever reads it and however slowly. Duplicate refs are read and sent once;
 * missing blocks are left out; a block too large for any message is never sent; and the answer stops
 * before the block that would take it past `MAX_FETCH_BLOCKS_ANSWER_BYTES`, so what it carries is a
 * prefix of what was asked for (the client asks again for the rest).
 */
export const serveFetchBlocks = (store: Pick<StoreService, "getBlockBytes">, refs: ReadonlyArray<BlockRef>): Stream.Stream<ReadonlyArray<Uint8Array>, StoreError> => {
  const wanted = distinctRefs(refs.slice(0, MAX_BLOCKS_PER_FETCH))
  const nextMessage = (cursor: AnswerCursor): Effect.Effect<Option.Option<readonly [ReadonlyArray<Uint8Array>, AnswerCursor]>, StoreError> =>
    Effect.gen(function* () {
      const blocks: Array<Uint8Array> = cursor.carry === undefined ? [] : [cursor.carry]
      let bytes = cursor.carry?.length ?? 0
      let { answered, index } = cursor
      while (index < wanted.length) {
        const [block] = yield* store.getBlockBytes([wanted[index] as BlockRef])
        index++
        if (block === undefined || block.length > RESPONSE_PAYLOAD_BUDGET) continue
        if (answered + block.length > MAX_FETCH_BLOCKS_ANSWER_BYTES) {
          index = wanted.length // the answer is full: nothing after this block is sent
          break
        }
        answered += block.length
        if (bytes + block.length > RESPONSE_PAYLOAD_BUDGET) return Option.some([blocks, { index, carry: block, answered }] as const)
        blocks.push(block)
        bytes += block.length
      }
      return blocks.length === 0 ? Option.none() : Option.some([blocks, { index, carry: undefined, answered }] as const)
    })
  return Stream.unfoldEffect<AnswerCursor, ReadonlyArray<Uint8Array>, StoreError, never>({ index: 0, carry: undefined, answered: 0 }, nextMessage)
}
