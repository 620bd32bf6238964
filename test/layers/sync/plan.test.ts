import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { VerifiedBlock } from "../../../src/domain/block.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { toHex } from "../../../src/domain/bytes.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import { blockRefKey } from "../../../src/domain/refs.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { SeededRandom } from "../../../src/testkit/rng.js"
import { MAX_COMMITS_PER_RANGE } from "../../../src/layers/sync/constants.js"
import { onPeerHeights, takeOffences, targetHeight } from "../../../src/layers/sync/plan/peers.js"
import { onBlocksOutcome, onCommitsOutcome, onDelivered } from "../../../src/layers/sync/plan/ranges.js"
import { schedule } from "../../../src/layers/sync/plan/schedule.js"
import { initialPlan, type CommitsOutcome, type SyncCommand, type SyncPlan } from "../../../src/layers/sync/plan/types.js"

// A chain with epochs of 37 commits, so that ranges of 100 meet epoch boundaries at odd places.
const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 3, validators: 4, commitsPerEpoch: 37, transactionsPerBlock: 0 }).take(260)
const blocksByKey = new Map<string, VerifiedBlock>()
for (const c of CHAIN) for (const b of [...c.subDag.blocks, ...c.certifierBlocks]) blocksByKey.set(blockRefKey(b.ref), b)
/** The most blocks one range of 100 commits of this chain can hold. */
const ONE_RANGE_MAX_BLOCKS = 100 * Math.max(...CHAIN.map((c) => c.subDag.commit.commit.blocks.length))
const epochOf = (index: number) => CHAIN[index - 1]!.subDag.epoch
const lastOfEpoch = (index: number) => {
  let i = index
  while (i < CHAIN.length && !CHAIN[i - 1]!.lastOfEpoch) i++
  return i
}

const peer = (n: number) => n.toString(16).padStart(64, "0") as PeerId

/** The plan with `p` backed off until `until` (so that another peer gets the next request). */
const updateBackoff = (plan: SyncPlan, p: PeerId, until: number): SyncPlan => ({
  ...plan,
  peers: new Map(plan.peers).set(p, { ...plan.peers.get(p)!, backoffUntil: until })
})

type Behaviour = "honest" | "liar" | "flaky" | "withholder"

/** What a peer of a given behaviour answers to a command, as the sync loop's workers would report it. */
const commitsAnswer = (behaviour: Behaviour, plan: SyncPlan, start: number, end: number, rng: SeededRandom): CommitsOutcome => {
  if (behaviour === "liar") return rng.chance(0.5) ? { _tag: "Invalid", detail: "forged" } : { _tag: "Empty", start }
  if (behaviour === "flaky" && rng.chance(0.4)) return { _tag: "Failed", detail: "timeout" }
  const epoch = epochOf(start)
  const stop = Math.min(end, lastOfEpoch(start)) // a response never spans an epoch
  const commits = CHAIN.slice(start - 1, stop)
  if (epoch > plan.nextEpoch)
    return { _tag: "NeedsCommittee", held: { epoch, commits: commits.map((c) => c.subDag.commit.bytes), certifierRefs: [] } }
  return { _tag: "Verified", commits: commits.map((c) => c.subDag.commit), certifiers: commits[commits.length - 1]!.certifierBlocks }
}

interface Outstanding {
  readonly command: SyncCommand
}

/**
 * Drives the pure plan to completion against a model of peers, checking invariants after every step,
 * and returns the delivered commit indices in delivery order.
 */
const drive = (behaviours: ReadonlyArray<Behaviour>, height: number, seed: number, window: number, maxBlocksHeld = 1_000_000) => {
  const rng = new SeededRandom(seed)
  let plan = initialPlan(0, 0, ZERO_DIGEST)
  let now = 0
  let linked = 0
  const peers = behaviours.map((_, i) => peer(i + 1))
  behaviours.forEach((b, i) => {
    plan = onPeerHeights(plan, peers[i]!, b === "liar" ? height + 10_000 : height, 0, now)
  })
  const behaviourOf = new Map(peers.map((p, i) => [p, behaviours[i]!]))
  const outstanding: Array<Outstanding> = []
  const delivered: Array<number> = []
  const answered = new Set<PeerId>()
  /** Peers that served forged data at least once (an empty answer alone may be "not yet"). */
  const forged = new Set<PeerId>()
  const config = { window, blockChunksInFlight: 3, maxRequestsPerPeer: 2, maxBlocksHeld }

  for (let step = 0; step < 20_000 && plan.nextIndex <= height; step++) {
    const scheduled = schedule(plan, now, config)
    plan = scheduled.plan
    for (const command of scheduled.commands) {
      if (command._tag === "Deliver") {
        const range = command.range
        expect(range.start).toBe(plan.nextIndex)
        for (const c of range.status.commits) delivered.push(c.commit.index)
        // Every listed block of every delivered commit is present.
        for (const c of range.status.commits) for (const ref of c.commit.blocks) expect(range.status.blocks.has(blockRefKey(ref))).toBe(true)
        const last = range.status.commits[range.status.commits.length - 1]!
        const nextEpoch = CHAIN[last.commit.index - 1]!.lastOfEpoch ? epochOf(last.commit.index) + 1 : epochOf(last.commit.index)
        plan = onDelivered(plan, range.id, nextEpoch)
      } else {
        expect(plan.peers.get(command.peer)!.bannedUntil).toBeLessThanOrEqual(now)
        // A range is linked to its predecessor when that one is verified: the digest it must chain to.
        if (command._tag === "FetchCommits" && command.previousDigest !== undefined) {
          const expected = command.start === 1 ? ZERO_DIGEST : CHAIN[command.start - 2]!.subDag.commitRef.digest
          expect(toHex(command.previousDigest)).toBe(toHex(expected))
          linked++
        }
        outstanding.push({ command })
      }
    }
    // Invariants: contiguous ranges from nextIndex, within the window; in-flight counts match.
    let expected = plan.nextIndex
    for (const r of plan.ranges) {
      expect(r.start).toBe(expected)
      expect(r.end).toBeGreaterThanOrEqual(r.start)
      expect(r.end - r.start).toBeLessThan(MAX_COMMITS_PER_RANGE)
      expected = r.end + 1
    }
    expect(plan.ranges.length).toBeLessThanOrEqual(window + 1)
    // Memory: blocks held stay within the budget, plus at most one range over it (a range always opens).
    const held = plan.ranges.reduce(
      (n, r) => n + (r.status._tag === "FetchingBlocks" ? r.status.have.size + r.status.pending.length + [...r.status.chunks.values()].reduce((m, c) => m + c.refs.length, 0) : r.status._tag === "Ready" ? r.status.blocks.size : 0),
      0
    )
    expect(held).toBeLessThanOrEqual(maxBlocksHeld + 2 * ONE_RANGE_MAX_BLOCKS)
    for (const p of peers) {
      const count = outstanding.filter((o) => o.command._tag !== "Deliver" && o.command.peer === p).length
      expect(plan.peers.get(p)!.inflight).toBe(count)
    }

    if (outstanding.length === 0) {
      now += 1_000 // nothing in flight: let backoffs expire
      continue
    }
    // Complete one outstanding command, chosen at random (any interleaving).
    const [{ command }] = outstanding.splice(rng.nextInt(outstanding.length), 1) as [Outstanding]
    now += rng.nextInt(50)
    const behaviour = behaviourOf.get((command as { peer: PeerId }).peer)!
    answered.add((command as { peer: PeerId }).peer)
    if (command._tag === "FetchCommits") {
      const outcome = commitsAnswer(behaviour, plan, command.start, command.end, rng)
      if (outcome._tag === "Invalid") forged.add(command.peer)
      plan = onCommitsOutcome(plan, command.rangeId, command.peer, outcome, now)
    } else if (command._tag === "VerifyHeld") {
      const commits = CHAIN.slice(command.start - 1, command.start - 1 + command.held.commits.length)
      plan = onCommitsOutcome(plan, command.rangeId, command.peer, { _tag: "Verified", commits: commits.map((c) => c.subDag.commit), certifiers: commits[commits.length - 1]!.certifierBlocks }, now)
    } else if (command._tag === "FetchBlocks") {
      const outcome =
        behaviour === "liar"
          ? { blocks: [], invalid: "forged block" }
          : behaviour === "flaky" && rng.chance(0.4)
            ? { blocks: [], failed: "timeout" }
            : { blocks: command.refs.filter(() => behaviour !== "withholder" || rng.chance(0.5)).map((r) => blocksByKey.get(blockRefKey(r))!) }
      if (behaviour === "liar") forged.add(command.peer)
      plan = onBlocksOutcome(plan, command.rangeId, command.chunkId, command.peer, outcome, now)
    }
  }
  return { delivered, plan, now, answered, forged, linked }
}

describe("sync plan", () => {
  it("honest peers: delivers exactly 1..height in order across epoch boundaries", () => {
    const { delivered, linked } = drive(["honest", "honest", "honest"], 250, 1, 8)
    expect(delivered).toEqual(Array.from({ length: 250 }, (_, i) => i + 1))
    // The head range links to the start, later ones to their verified predecessor (checked in drive).
    expect(linked).toBeGreaterThanOrEqual(2)
  })

  it("opens one range until it knows how big commits are, then only as many as the block budget allows", () => {
    let plan = onPeerHeights(initialPlan(0, 0), peer(1), 250, 0, 0)
    const config = { window: 8, blockChunksInFlight: 3, maxRequestsPerPeer: 100, maxBlocksHeld: 2 * ONE_RANGE_MAX_BLOCKS }
    const first = schedule(plan, 0, config)
    expect(first.plan.ranges).toHaveLength(1)
    const fetch = first.commands.find((c) => c._tag === "FetchCommits")!
    plan = onCommitsOutcome(first.plan, fetch.rangeId, peer(1), commitsAnswer("honest", first.plan, fetch.start, fetch.end, new SeededRandom(1)), 1)
    const second = schedule(plan, 1, config)
    // Room for the verified range's blocks plus about one more range at the observed size.
    expect(second.plan.ranges.length).toBeGreaterThanOrEqual(2)
    expect(second.plan.ranges.length).toBeLessThanOrEqual(3)
  })

  it("with large commits (100 validators: ≈ 100 blocks each) ranges shrink so that three fit the block budget", () => {
    let plan = { ...initialPlan(0, 0), blocksPerCommit: 100 }
    plan = onPeerHeights(plan, peer(1), 10_000, 0, 0)
    const { plan: after } = schedule(plan, 0, { window: 8, blockChunksInFlight: 3, maxRequestsPerPeer: 100, maxBlocksHeld: 3_000 })
    expect(after.ranges.map((r) => r.end - r.start + 1)).toEqual([10, 10, 10])
  })

  it("the certifiers of a verified range are not fetched again for the next range, whose first commit lists them", () => {
    let plan = onPeerHeights({ ...initialPlan(0, 0), blocksPerCommit: 4 }, peer(1), 20, 0, 0)
    const config = { window: 2, blockChunksInFlight: 8, maxRequestsPerPeer: 100, maxBlocksHeld: 24 }
    const first = schedule(plan, 0, config)
    const fetches = first.commands.filter((c) => c._tag === "FetchCommits")
    expect(fetches.map((f) => [f.start, f.end])).toEqual([[1, 2], [3, 4]])
    const answer = (f: (typeof fetches)[number]) => commitsAnswer("honest", first.plan, f.start, f.end, new SeededRandom(1))
    plan = onCommitsOutcome(first.plan, fetches[0]!.rangeId, peer(1), answer(fetches[0]!), 1)
    plan = onCommitsOutcome(plan, fetches[1]!.rangeId, peer(1), answer(fetches[1]!), 1)
    const certifiersOfFirst = new Set(CHAIN[1]!.certifierBlocks.map((b) => blockRefKey(b.ref)))
    const listedBySecond = CHAIN[2]!.subDag.commit.commit.blocks.map(blockRefKey).filter((k) => certifiersOfFirst.has(k))
    expect(listedBySecond.length).toBeGreaterThan(0)
    const asked = schedule(plan, 1, config).commands.flatMap((c) => (c._tag === "FetchBlocks" ? c.refs.map(blockRefKey) : []))
    expect(asked.filter((k) => certifiersOfFirst.has(k))).toEqual([])
  })

  it("opens no more ranges than the window, whatever height a liar claims", () => {
    // Commit sizes already known (so the block budget is not what limits it here).
    let plan = { ...initialPlan(0, 0), blocksPerCommit: 4 }
    plan = onPeerHeights(plan, peer(1), 1_000_000_000, 0, 0)
    const { plan: after, commands } = schedule(plan, 0, { window: 8, blockChunksInFlight: 3, maxRequestsPerPeer: 100, maxBlocksHeld: 1_000_000 })
    expect(after.ranges).toHaveLength(8)
    expect(commands.filter((c) => c._tag === "FetchCommits")).toHaveLength(8)
    expect(targetHeight(after, 0)).toBe(1_000_000_000)
  })

  it("a peer that serves invalid data is banned, its claims dropped, and gets no more requests", () => {
    let plan = onPeerHeights(initialPlan(0, 0), peer(1), 500, 0, 0)
    const first = schedule(plan, 0)
    const fetch = first.commands.find((c) => c._tag === "FetchCommits")!
    plan = onCommitsOutcome(first.plan, fetch.rangeId, peer(1), { _tag: "Invalid", detail: "bad votes" }, 10)
    expect(plan.peers.get(peer(1))!.bannedUntil).toBeGreaterThan(10)
    expect(targetHeight(plan, 10)).toBe(0)
    plan = onPeerHeights(plan, peer(1), 900, 0, 20) // claims of a banned peer are ignored
    expect(schedule(plan, 20).commands.filter((c) => c._tag !== "Deliver" && c.peer === peer(1))).toHaveLength(0)
  })

  it("an empty answer above what a peer has proven is 'not yet': no ban, no offence, a backoff, and its claim drops below it", () => {
    let plan = onPeerHeights(initialPlan(0, 0), peer(1), 40, 0, 0)
    const first = schedule(plan, 0)
    const fetch = first.commands.find((c) => c._tag === "FetchCommits")!
    plan = onCommitsOutcome(first.plan, fetch.rangeId, peer(1), { _tag: "Empty", start: fetch.start }, 10)
    const p = plan.peers.get(peer(1))!
    expect(p.bannedUntil).toBe(0)
    expect(p.backoffUntil).toBeGreaterThan(10)
    expect(p.highest).toBe(fetch.start - 1)
    expect(takeOffences(plan).offences).toEqual([])
    // It claims again later (a poll or a push) and is asked again once the backoff ends.
    plan = onPeerHeights(plan, peer(1), 41, 0, p.backoffUntil)
    expect(schedule(plan, p.backoffUntil).commands.some((c) => c._tag === "FetchCommits" && c.peer === peer(1))).toBe(true)
  })

  it("a peer that proved a commit and then serves nothing at or below it is banned as a liar (withheld_commits)", () => {
    let plan = onPeerHeights(initialPlan(0, 0), peer(1), 40, 0, 0)
    const first = schedule(plan, 0)
    const fetch = first.commands.find((c) => c._tag === "FetchCommits")!
    const commits = CHAIN.slice(0, 20)
    plan = onCommitsOutcome(first.plan, fetch.rangeId, peer(1), { _tag: "Verified", commits: commits.map((c) => c.subDag.commit), certifiers: commits[19]!.certifierBlocks }, 10)
    expect(plan.peers.get(peer(1))!.proven).toBe(20)
    plan = onCommitsOutcome(plan, 999, peer(1), { _tag: "Empty", start: 15 }, 20)
    expect(plan.peers.get(peer(1))!.bannedUntil).toBeGreaterThan(20)
    const { offences } = takeOffences(plan)
    expect(offences.map((o) => [o.peer, o.reason])).toEqual([[peer(1), "withheld_commits"]])
  })

  it("a peer that proved a range's commits and leaves out their blocks is banned (withheld_blocks); one that never proved them only backs off", () => {
    const config = { window: 1, blockChunksInFlight: 1, maxRequestsPerPeer: 4, maxBlocksHeld: 1_000_000 }
    const run = (proves: boolean) => {
      let plan = onPeerHeights(onPeerHeights(initialPlan(0, 0, ZERO_DIGEST), peer(1), 10, 0, 0), peer(2), 10, 0, 0)
      const first = schedule(plan, 0, config)
      const fetch = first.commands.find((c) => c._tag === "FetchCommits")!
      const commits = CHAIN.slice(0, fetch.end)
      plan = onCommitsOutcome(first.plan, fetch.rangeId, fetch.peer, { _tag: "Verified", commits: commits.map((c) => c.subDag.commit), certifiers: commits[commits.length - 1]!.certifierBlocks }, 10)
      // The blocks are asked of whichever peer; make it the one that proved the commits, or the other.
      const blocksPeer = proves ? fetch.peer : fetch.peer === peer(1) ? peer(2) : peer(1)
      const other = blocksPeer === peer(1) ? peer(2) : peer(1)
      plan = updateBackoff(plan, other, 1_000_000)
      const second = schedule(plan, 20, config)
      const chunk = second.commands.find((c) => c._tag === "FetchBlocks")!
      expect(chunk.peer).toBe(blocksPeer)
      plan = onBlocksOutcome(second.plan, chunk.rangeId, chunk.chunkId, chunk.peer, { blocks: [] }, 30)
      return { peer: plan.peers.get(blocksPeer)!, offences: takeOffences(plan).offences }
    }
    const liar = run(true)
    expect(liar.peer.bannedUntil).toBeGreaterThan(30)
    expect(liar.offences.map((o) => o.reason)).toEqual(["withheld_blocks"])
    const unproven = run(false)
    expect(unproven.peer.bannedUntil).toBe(0)
    expect(unproven.peer.backoffUntil).toBeGreaterThan(30)
    expect(unproven.offences).toEqual([])
  })

  it("a timeout backs the peer off exponentially and the range goes to another peer", () => {
    let plan = onPeerHeights(onPeerHeights(initialPlan(0, 0), peer(1), 50, 0, 0), peer(2), 50, 0, 0)
    const first = schedule(plan, 0, { window: 1, blockChunksInFlight: 1, maxRequestsPerPeer: 1, maxBlocksHeld: 1_000_000 })
    const fetch = first.commands.find((c) => c._tag === "FetchCommits")!
    plan = onCommitsOutcome(first.plan, fetch.rangeId, fetch.peer, { _tag: "Failed", detail: "deadline" }, 100)
    const backoff1 = plan.peers.get(fetch.peer)!.backoffUntil
    expect(backoff1).toBeGreaterThan(100)
    const second = schedule(plan, 101, { window: 1, blockChunksInFlight: 1, maxRequestsPerPeer: 1, maxBlocksHeld: 1_000_000 })
    const retry = second.commands.find((c) => c._tag === "FetchCommits")!
    expect(retry.peer).not.toBe(fetch.peer)
    plan = onCommitsOutcome(second.plan, retry.rangeId, retry.peer, { _tag: "Failed", detail: "deadline" }, 200)
    const third = schedule(plan, backoff1, { window: 1, blockChunksInFlight: 1, maxRequestsPerPeer: 1, maxBlocksHeld: 1_000_000 })
    const again = third.commands.find((c) => c._tag === "FetchCommits")!
    plan = onCommitsOutcome(third.plan, again.rangeId, again.peer, { _tag: "Failed", detail: "deadline" }, backoff1 + 10)
    expect(plan.peers.get(again.peer)!.backoffUntil - (backoff1 + 10)).toBeGreaterThan(backoff1 - 100)
  })

  it("property: any mix of honest, flaky, withholding and lying peers (at least one honest) yields exactly the canonical sequence, in order", () => {
    const behaviour = fc.constantFrom<Behaviour>("honest", "liar", "flaky", "withholder")
    fc.assert(
      fc.property(
        fc.array(behaviour, { minLength: 0, maxLength: 5 }),
        fc.integer({ min: 1, max: 250 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(50, 300, 1_000, 1_000_000),
        (others, height, seed, window, maxBlocksHeld) => {
          const { delivered, forged, plan } = drive(["honest", ...others], height, seed, window, maxBlocksHeld)
          expect(delivered).toEqual(Array.from({ length: height }, (_, i) => i + 1))
          // Every peer that forged data was banned; the honest one never was.
          for (const p of forged) expect(plan.peers.get(p)!.bannedUntil).toBeGreaterThan(0)
          expect(plan.peers.get(peer(1))!.bannedUntil).toBe(0)
        }
      ),
      { numRuns: 60 }
    )
  })
})
