/**
 * Every tuning knob of the peer ledger in one place, each with the reason for its value (DESIGN.md §5;
 * Soma's values in the research notes §2.1): penalties, the ban threshold and the ban duration, score
 * decay, dial backoff, the NodeInfo time window, ranking weights, and the table's bounds. `PeerPolicy`
 * takes its defaults from here. This is the node's one definition of a ban.
 */
import type { Offence, PeerPolicy } from "../../services/PeerManager.js"

// --- NodeInfo validity (DESIGN.md §5, Soma) ----------------------------------------------------------

/** Tolerated clock skew of a signer: a NodeInfo may be dated at most 30 s ahead. */
export const MAX_FUTURE_SKEW_MS = 30_000
/** A NodeInfo older than 24 h is refused and culled: its node stopped re-signing long ago. */
export const MAX_INFO_AGE_MS = 24 * 60 * 60 * 1_000

// --- the table ------------------------------------------------------------------------------------

/**
 * Peer records kept at most. 10,000 × ~1 KB bounds memory at ~10 MB; beyond it the worst-ranked stale
 * records are evicted (a flood of fresh Sybil identities cannot grow the table without bound).
 */
export const MAX_KNOWN_PEERS = 10_000
/**
 * Share of the cap evicted beyond the excess once the table is over it, so that a busy table is not
 * re-sorted for every answer (10,000 → 100 records of headroom).
 */
export const EVICTION_SLACK = 0.01

// --- introductions (who may tell us about how many new peers) --------------------------------------

/**
 * New (unknown) peers one GetKnownPeers answer may introduce; the rest are dropped before their
 * signatures are checked. Keys are free, so without a cap one connected liar could fill the table with
 * fresh identities (an attack measured 2,000 honest entries washed out by 12 answers). 20 is ~10 % of an
 * answer: a new node still learns a 1,000-node network within ~15 rounds (3 answers a round plus one
 * per dial), while a liar adds at most 20 identities per answer it is asked for.
 */
export const MAX_NEW_PER_ANSWER = 20
/**
 * New peers one responder may introduce per window, at full trust: 200 per 10 min is everything a
 * responder can teach a new node in its first ~40 answers (~1.5 min of being asked), and bounds a liar
 * we keep connected to at 1,200 identities an hour, fewer as its introductions fail to connect.
 */
export const MAX_NEW_PER_WINDOW = 200
/** Length of the introduction budget's window. */
export const INTRODUCTION_WINDOW_MS = 10 * 60_000
/**
 * A responder is charged `FailedIntroductions` at every `INTRODUCTION_CHARGE_EVERY`-th introduced
 * peer whose first dial failed, while its failures outnumber its successes `INTRODUCTION_FAILURE_RATIO`
 * to one. Honest relays serve peers they have seen work (`ranking.ts`), so most of what they introduce
 * connects; a lossy link or a departed node costs a failure now and then, never five in a row with
 * none connecting.
 */
export const INTRODUCTION_CHARGE_EVERY = 5
export const INTRODUCTION_FAILURE_RATIO = 3
/**
 * A responder is credible while this many of the peers it introduced, tested one after another, were
 * reached by a dial... (`isCredible` in `credibility.ts`): three, so that a liar mixing real peers
 * with minted ones is rarely credible (a third minted: (2/3)^3 ≈ 0.3 of the time, and never for long).
 */
export const CREDIBLE_STREAK = 3
/**
 * ...and stays credible while at least this many of its tested introductions connected for each one
 * that failed (80 %). An honest relay's introductions connect, a departed node aside; a liar whose
 * answers are more than a fifth minted identities loses credibility as soon as feelers sample them.
 */
export const CREDIBLE_SUCCESS_RATIO = 4
/**
 * New peers one answer of a credible responder may introduce or second (instead of `MAX_NEW_PER_ANSWER`):
 * its word promotes peers from probation, and a proven one's puts them straight into the table. Why: at
 * 20 per answer on probation, a node of a 1,000-node network still missed 80 % of it after 20 rounds
 * (measured). At 50 the budget bound every credible answer in the middle of a 1,000-node run — a node
 * still missing 60 % of the network finds ≈ 120 peers new to it in an answer of 200 — and 100 took the
 * run from 627,690 to 607,014 missing entries at tick 4 (measured). What a credible liar promotes is
 * its own word (`mergeNodeInfos`): unserved unless it is proven, and dropped when it is discredited.
 */
export const MAX_NEW_PER_CREDIBLE_ANSWER = 100
/**
 * A proven responder's introductions (`PROVEN_STREAK`) that skipped probation and are still unproven
 * (never reached, reported by no other credible voice) are at most this many per introduction of it
 * proven in a row from `PROVEN_STREAK − 1` on: 4 at a streak of 6, 8 at 7. Beyond, its new peers wait
 * on probation like anyone's (moving to the table as its allowance grows: `promoteProvenIntroductions`),
 * and so do a responder's that is only credible. Measured: a liar credible
 * from introducing its fellow attackers put 50 minted identities into a table with one answer; at 4 × its
 * streak (from 3) a liar credible by luck still put 12 into one table at once. An honest responder's
 * introductions are soon reported by others too, so the bound rarely holds it back.
 */
export const UNPROVEN_PER_STREAK = 4
/**
 * ...and never more than this many, however long its streak: a liar's streak grows with every feeler
 * that reaches one of its fellow attackers (real peers, half of what a Sybil answer carries), so the
 * streak-scaled allowance alone let one liar proven late put 67 minted identities into one honest table
 * at tick 20 of a 1,000-node run (measured). 16 is reached at a streak of 9; an honest relay's
 * introductions are soon reported by other credible voices (then no longer unproven) or reached by a
 * feeler, so its allowance keeps refilling.
 */
export const MAX_UNPROVEN_PER_INTRODUCER = 16
/**
 * New peers a credible responder may introduce per window (instead of `MAX_NEW_PER_WINDOW`): at 200, a
 * node's 8 connections had spent their budgets after ≈ 4 answers each, and a node of a 1,000-node network
 * still missed a third of it after 12 rounds (measured). What a credible liar can do with it is bounded
 * by `UNPROVEN_PER_STREAK` in the table and the probation bucket (`MAX_PROBATION_PER_INTRODUCER`).
 */
export const MAX_NEW_PER_CREDIBLE_WINDOW = 1_000

// --- probation (introduced peers not yet confirmed: `probation.ts`) --------------------------------

/**
 * Unconfirmed introductions kept per introducer: 32 is more than one answer's budget (20), so an honest
 * relay's answer is kept whole, while a liar holds at most 32 slots however many answers it sends
 * (its newest push out its own oldest, never anyone else's).
 */
export const MAX_PROBATION_PER_INTRODUCER = 32
/**
 * Unconfirmed introductions kept in all: 1,024 × ~1 KB is ~1 MB, and 32 introducers' full buckets. When
 * full, the introducer's own oldest go first (else the largest bucket's oldest), so a new source
 * still gets in.
 */
export const MAX_PROBATION = 1_024
/**
 * Chance that a rotation dial (at target, itself `rotationProbability` per round) tries a probation
 * entry instead of a table peer: enough that a node at its target still tests what its peers told it
 * (a liar's fakes fail and charge it), rare enough that rotation keeps mixing the table's peers.
 */
export const PROBATION_ROTATION_SHARE = 0.5
/**
 * Feeler dials per round (Bitcoin Core's "feeler connections", there one per 2 minutes): a short
 * connection to one untested introduction (`feelers.ts`: half to the introducers with the most untested,
 * half to those with the fewest), queried once and dropped if the node is above its target. It is what
 * makes introducers credible (or not) within a few rounds instead of at the rare rotation, and only a
 * credible introducer's word promotes a peer from probation, so the feelers set the pace of learning,
 * while a liar's minted identities are found out while few. Eight per round (5 s) cost eight handshakes
 * and eight GetKnownPeers answers, ≈ 1.6 short connections a second. Two were too few at 1,000 nodes
 * (3,814 honest entries still missing after 8 ticks at 400 nodes, 54 with four, when an overlap with
 * our table also vouched); without the overlap rule, four left 36,031 missing at tick 8, eight 15,835.
 */
export const FEELERS_PER_ROUND = 8
/**
 * Learning dials per round (`learning.ts`): short connections to credible peers we are not connected to,
 * asked once for their known peers and dropped if above target, while something a voice we believe
 * reported waits on probation. Late in discovery a missing peer waits there until one credible answer
 * carries it (one answer in ≈ 7 does: half of an answer is drawn from the ≈ 700 peers outside the
 * responder's best 200), so the tail shrinks by a share set by the credible answers a round. Four add
 * four to the ≈ 2 a node's own three queries bring, at four handshakes per 5 s; with two, the honest
 * entries still missing at 1,000 nodes halved about once a tick from tick 12 (1,592 at tick 16, 42 at 20).
 */
export const LEARNING_DIALS_PER_ROUND = 4
/**
 * Confirmation dials per round (`confirmations.ts`): short connections to the probation entries that the
 * most voices we believe reported, with no query — the dial itself is the test (a peer reached is real and
 * moves to the table; a failed one charges its introducer, a reached one credits no one). Late in
 * discovery what a node still misses waits there: at tick 10 of a 1,000-node run half of the missing
 * honest entries had two or more believed voices behind them and no credible one, ≈ 30 a node and
 * hundreds at the nodes that knew least, against the 2 feelers a round that went to them then. Sixteen
 * cost sixteen handshakes per 5 s (no answer to read), only while such an entry waits; a converged
 * network has none.
 */
export const CONFIRMATION_DIALS_PER_ROUND = 16
/**
 * A credible responder is *proven* once its streak of reached introductions is at least this, twice what
 * credibility takes. Credibility lets its word promote a peer from probation; only a proven responder's
 * untried introductions are served (passed on in our answers, where every node that asks us believes
 * them: we are credible to it) and only a proven one may put new peers straight into the table
 * (`UNPROVEN_PER_STREAK`). Why: a liar whose answers are half its real fellow attackers passes three
 * tests by luck one time in eight; at 1,000 nodes ≈ 60 such pairs of a liar and an honest node existed
 * at any time from tick 4 (measured). Served at `CREDIBLE_STREAK`, what one of them told an honest node
 * reached ≈ 1,000 honest table entries within a tick (measured at 400 nodes). Six in a row it passes one
 * time in 64, and a credible responder gets `CREDIBLE_STREAK` feelers a round (`feelers.ts`), so an
 * honest relay is proven the round after it became credible.
 */
export const PROVEN_STREAK = 2 * CREDIBLE_STREAK

// --- dialling -------------------------------------------------------------------------------------

/** First backoff after a failed dial: one discovery tick, so a transient failure costs one round. */
export const DIAL_BACKOFF_BASE_MS = 5_000
/**
 * Longest backoff (doubling per failure): an offline peer is retried every minute, not forgotten.
 * Longer caps made convergence over lossy links take tens of minutes (a dial needs both handshake
 * messages through), while ranking already puts peers that keep failing behind those that answer, and
 * a round dials at most `target − connected` peers, so retries stay cheap.
 */
export const DIAL_BACKOFF_MAX_MS = 60_000

// --- ranking --------------------------------------------------------------------------------------

/** RTT at which the RTT factor of a peer's quality is ½: 100 ms separates near peers from far ones. */
export const RTT_REFERENCE_MS = 100
/** Weights of success rate, RTT and reputation in a peer's quality (they sum to 1). */
export const QUALITY_WEIGHTS = { successRate: 0.4, rtt: 0.3, reputation: 0.3 } as const
/**
 * Quality is multiplied by this for each consecutive failed dial or call: a peer that just failed ranks
 * below an untried one until it answers again. Without it, peers that used to work but are now cut off
 * (a partition, a departed node) kept winning the one free dial slot every round over reachable peers
 * never tried, and a node stayed below target.
 */
export const FAILURE_DISCOUNT = 0.5
/**
 * Quality is multiplied by this while the peer is discredited as an introducer (`isDiscredited`: what it
 * told us of mostly failed to connect): a liar answers every call at once and never fails a dial, so on
 * success rate and RTT alone it ranked above honest peers, and at 1,000 nodes with 10 % attackers the
 * nodes that knew the least at tick 8 had 2–3 of their 8 connections on attackers (measured), each asked
 * in turn for peers and answering with minted identities. Discounted, it is trimmed first when the node
 * is above its target and dialled only when nobody better is eligible — still dialled then (a relay cut
 * off by a partition is discredited too, and a small network may need every peer it has).
 */
export const DISCREDITED_DISCOUNT = 0.25
/**
 * Random jitter (uniform in [0, this)) added to quality when choosing whom to dial: a clearly better
 * peer usually wins, but similar peers are picked at random, so nodes do not all crowd the same few.
 */
export const DIAL_JITTER = 0.25

// --- reputation and bans --------------------------------------------------------------------------

/** A score at or below −50 bans the peer. */
export const BAN_THRESHOLD = -50
/** Faults (timeouts, unreachable) never push a score below −25: a lossy link is not misbehaviour. */
export const FAULT_SCORE_FLOOR = -25
/** Scores halve towards 0 every 10 min, so old offences are forgiven and only repeated ones ban. */
export const SCORE_HALF_LIFE_MS = 10 * 60_000
/**
 * First ban: 10 min (how long a peer that served invalid data is ignored), doubled for every further
 * ban, capped below. The node's one ban duration: state sync's own bans should read it from here.
 */
export const BAN_DURATION_MS = 10 * 60_000
/** Longest ban: one day, after which the peer's NodeInfo would have expired anyway. */
export const MAX_BAN_DURATION_MS = 24 * 60 * 60 * 1_000
/** Weight of a new RTT sample (exponential moving average over roughly the last 5 samples). */
export const RTT_SMOOTHING = 0.2

/**
 * Penalty per offence (an answer is charged once per kind of offence, however many bad entries it has).
 * Honest nodes verify every NodeInfo before they store or relay it, so an invalid one is a bug or an
 * attack: two such answers within ~6 min ban (one could be a bug). Invalid state-sync data bans at
 * once. A stale or future entry may be clock skew, so it takes ten; a protocol violation three.
 */
export const PENALTIES: Readonly<Record<Offence, number>> = {
  InvalidNodeInfo: 30,
  StaleNodeInfo: 5,
  ProtocolViolation: 20,
  InvalidData: 100,
  Timeout: 2,
  Unavailable: 1,
  // Five charges (25 dead introductions with ≤ 1 in 4 connecting, within a half-life) ban.
  FailedIntroductions: 10
}

/** The default table policy. */
export const defaultPeerPolicy: PeerPolicy = {
  maxKnownPeers: MAX_KNOWN_PEERS,
  penalties: PENALTIES,
  banThreshold: BAN_THRESHOLD,
  faultScoreFloor: FAULT_SCORE_FLOOR,
  scoreHalfLifeMs: SCORE_HALF_LIFE_MS,
  banDurationMs: BAN_DURATION_MS,
  maxBanDurationMs: MAX_BAN_DURATION_MS,
  backoffBaseMs: DIAL_BACKOFF_BASE_MS,
  backoffMaxMs: DIAL_BACKOFF_MAX_MS,
  rttSmoothing: RTT_SMOOTHING,
  maxFutureSkewMs: MAX_FUTURE_SKEW_MS,
  maxInfoAgeMs: MAX_INFO_AGE_MS,
  maxNewPerAnswer: MAX_NEW_PER_ANSWER,
  maxNewPerWindow: MAX_NEW_PER_WINDOW,
  maxNewPerCredibleAnswer: MAX_NEW_PER_CREDIBLE_ANSWER,
  maxNewPerCredibleWindow: MAX_NEW_PER_CREDIBLE_WINDOW,
  feelersPerRound: FEELERS_PER_ROUND,
  learningDialsPerRound: LEARNING_DIALS_PER_ROUND,
  confirmationDialsPerRound: CONFIRMATION_DIALS_PER_ROUND,
  introductionWindowMs: INTRODUCTION_WINDOW_MS,
  maxProbationPerIntroducer: MAX_PROBATION_PER_INTRODUCER,
  maxProbation: MAX_PROBATION
}

// --- peer changes ---------------------------------------------------------------------------------

/** Peer changes kept for a lagging subscriber (as the network's peer events); the oldest are dropped. */
export const PEER_CHANGES_CAPACITY = 1_024
