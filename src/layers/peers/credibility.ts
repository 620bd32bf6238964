/**
 * Credibility of a responder's introductions (Sybil resistance that still lets a large network be
 * learnt fast): keys are free, so what a responder tells us about peers we never heard of is only
 * believed once dials show its introductions to be real. Feeler dials (`planDials`) test them early.
 * A credible responder may introduce `maxNewPerCredibleAnswer` new peers per answer, straight to the
 * table; everyone else's introductions wait on probation (`probation.ts`), at `maxNewPerAnswer` an
 * answer. Losing credibility drops every introduction it made that was never reached (`table.ts`).
 */
import type { IntroductionStats } from "../../services/PeerManager.js"
import { CREDIBLE_STREAK, CREDIBLE_SUCCESS_RATIO, PROVEN_STREAK } from "./policy.js"

/**
 * Whether a responder's introductions have proven real: the last `CREDIBLE_STREAK` of them tested
 * connected, and `CREDIBLE_SUCCESS_RATIO` connected for each one that ever failed. The streak is what
 * a liar cannot keep: it earns credibility by introducing real peers (its fellow attackers, say), but
 * the first of its minted identities a feeler tries ends it, and with it every untested introduction
 * it made while credible (`judgeIntroducer`).
 */
export const isCredible = (stats: IntroductionStats | undefined): boolean =>
  stats !== undefined && stats.streak >= CREDIBLE_STREAK && stats.failed * CREDIBLE_SUCCESS_RATIO <= stats.connected

/**
 * Whether a responder was found out: not credible, and its failed introductions outweigh the reached
 * ones `CREDIBLE_SUCCESS_RATIO` to one (the ratio credibility itself demands). Such a responder gets one
 * feeler a round and does not count as a reporter of what waits on probation (`feelers.ts`).
 */
export const isDiscredited = (stats: IntroductionStats | undefined): boolean =>
  stats !== undefined && !isCredible(stats) && stats.failed * CREDIBLE_SUCCESS_RATIO > stats.connected

/**
 * Whether a credible responder is also proven: its streak reached `PROVEN_STREAK`. Only a proven
 * responder's untried introductions are served, and only its new peers skip probation (`policy.ts`).
 */
export const isProven = (stats: IntroductionStats | undefined): boolean => isCredible(stats) && (stats?.streak ?? 0) >= PROVEN_STREAK
