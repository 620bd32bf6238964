/**
 * Every tuning knob of discovery in one place, each with the reason for its value (DESIGN.md §5; Soma's
 * values in the research notes §2.1): the round's, and the GetKnownPeers server's. `DiscoveryTuning` is
 * the part an operator or a simulation may override; `DiscoveryConfig` (`builder.ts`) takes its defaults
 * from `defaultDiscoveryTuning`. The peer ledger's knobs (penalties, bans, backoff, ranking, the NodeInfo
 * time window) are in `layers/peers/policy.ts`.
 */

// --- the round -----------------------------------------------------------------------------------

/** One discovery round every 5 s (Soma/Sui); Soma hard-coded it and ignored its config — ours is used. */
export const DISCOVERY_TICK_MS = 5_000
/** Connected peers asked for their known peers per round: 3 spreads news in O(log n) rounds without flooding. */
export const PEERS_TO_QUERY = 3
/**
 * Outbound connections we aim for: 8 keeps the overlay connected with high probability and gives
 * state sync several peers to spread ranges over, for a few connections' worth of memory.
 */
export const TARGET_CONNECTIONS = 8
/** Deadline of one GetKnownPeers call; equal to the tick, so a slow peer never delays the next round. */
export const QUERY_TIMEOUT_MS = 5_000
/** Probability per round, at target, of dialling one random peer and dropping the worst connection (see `rotation`). */
export const ROTATION_PROBABILITY = 0.05

// --- the server -----------------------------------------------------------------------------------

/** Peers in one GetKnownPeers answer (Soma's MAX_PEERS_TO_SEND): ~30 KB, plenty to spread news. */
export const MAX_PEERS_TO_SEND = 200
/**
 * Entries of one answer that are looked at: no honest server (ours or Soma's) sends more than
 * `MAX_PEERS_TO_SEND`, so more is a protocol violation and the rest is ignored. Soma read up to 1,000,
 * five times the work an attacker's answer could cost us for nothing. (Within these, only
 * `maxNewPerAnswer` unknown peers are verified: `layers/peers/policy.ts`.)
 */
export const MAX_ENTRIES_PER_RESPONSE = MAX_PEERS_TO_SEND
/**
 * Entries are served only while younger than the 24 h limit minus this margin, so an honest answer never
 * carries an entry that expires on its way (which the receiver would count against us).
 */
export const SERVE_AGE_MARGIN_MS = 60_000
/**
 * The candidates GetKnownPeers answers are drawn from are ranked at most once per this long, however
 * many peers call (`servedSample.ts`): ranking 10,000 records costs ~7 ms, and each peer may call up
 * to 100 times a second. One second bounds it at under 1 % of a core, while news still reaches our
 * answers within a second — a tick-long (5 s) cache made a new network converge a tick later per hop.
 */
export const SERVE_SAMPLE_MAX_AGE_MS = 1_000
/**
 * The candidates an answer is drawn from: this many times `MAX_PEERS_TO_SEND` of the best-observed
 * servable entries (ranked by what we saw of each peer: `layers/peers/ranking.ts`), recomputed at most
 * once per `SERVE_SAMPLE_MAX_AGE_MS`. Half an answer comes from the best `MAX_PEERS_TO_SEND`, half from
 * all the others (`plan/serve.ts`). 10 × 200 covers a 2,000-node network: with only the best 401 as
 * candidates, a node of a 1,000-node network never relayed half of what it knew, and the peers every
 * table ranked low (heard of last) took 20 rounds to reach everyone.
 */
export const SERVE_FRESHNESS_WINDOW = 10

/** Knobs of the discovery round and server that a configuration may override (defaults above). */
export interface DiscoveryTuning {
  readonly tickMs: number
  readonly peersToQuery: number
  readonly targetConnections: number
  readonly queryTimeoutMs: number
  readonly maxEntriesPerResponse: number
  readonly maxPeersToSend: number
  readonly rotationProbability: number
}

/** The default loop and server knobs. */
export const defaultDiscoveryTuning: DiscoveryTuning = {
  tickMs: DISCOVERY_TICK_MS,
  peersToQuery: PEERS_TO_QUERY,
  targetConnections: TARGET_CONNECTIONS,
  queryTimeoutMs: QUERY_TIMEOUT_MS,
  maxEntriesPerResponse: MAX_ENTRIES_PER_RESPONSE,
  maxPeersToSend: MAX_PEERS_TO_SEND,
  rotationProbability: ROTATION_PROBABILITY
}
