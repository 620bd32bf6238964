/**
 * Reading order of a GetKnownPeers answer: the introduction budget admits new peers in the order they
 * are read, so an answer is read in a random order — a liar that puts its real fellow attackers first
 * (to be tested and found credible) and its minted identities after gets a fair sample of both admitted.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { answerReadingOrder } from "../../../src/layers/discovery/plan/readingOrder.js"
import { admitIntroductions } from "../../../src/layers/peers/introductions.js"
import { MAX_INFO_AGE_MS, MAX_NEW_PER_ANSWER } from "../../../src/layers/peers/policy.js"
import { mergeNodeInfos } from "../../../src/layers/peers/table.js"
import { tableOf } from "../peers/fixtures.js"
import { peerOf, signedInfo } from "./nodeInfos.js"

const NOW = 10 * MAX_INFO_AGE_MS
const LIAR = 1
const FRIENDS = Array.from({ length: MAX_NEW_PER_ANSWER }, (_, i) => signedInfo(100 + i, NOW))
const FAKES = Array.from({ length: 180 }, (_, i) => signedInfo(1_000 + i, NOW))
const fakeIds = new Set(FAKES.map((s) => s.info.peerId))

describe("answerReadingOrder", () => {
  it("reads at most `max` entries, each once, the rest never", () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 300 }), fc.integer({ min: 0, max: 250 }), fc.integer(), (entries, max, seed) => {
        const read = answerReadingOrder(entries, max, seed)
        expect([...read].sort((a, b) => a - b)).toEqual(entries.slice(0, max).sort((a, b) => a - b))
      }),
      { numRuns: 100 }
    )
  })

  it("admits a fair sample of a liar's answer, not the friends it put first", () => {
    const table = mergeNodeInfos(tableOf(), [signedInfo(LIAR, NOW)], NOW).table
    const answer = [...FRIENDS, ...FAKES]
    // As sent, the budget would take exactly the friends.
    const asSent = admitIntroductions(table, peerOf(LIAR), answer, NOW).value
    expect(answer.filter((_, i) => asSent[i] === "New").every((s) => !fakeIds.has(s.info.peerId))).toBe(true)
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const read = answerReadingOrder(answer, 200, seed)
        const admissions = admitIntroductions(table, peerOf(LIAR), read, NOW).value
        const admitted = read.filter((_, i) => admissions[i] === "New")
        expect(admitted).toHaveLength(MAX_NEW_PER_ANSWER)
        // 90 % of the answer is fakes: ≈ 18 of 20 admitted; fewer than 8 has probability < 1e-9.
        expect(admitted.filter((s) => fakeIds.has(s.info.peerId)).length).toBeGreaterThanOrEqual(8)
      }),
      { numRuns: 50 }
    )
  })
})
