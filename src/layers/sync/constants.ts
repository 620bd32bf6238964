/** Every tuning knob of state sync in one place, each with the reason for its value. */

/** Commits per FetchCommits request: the server's cap (DESIGN.md §4, Soma's COMMIT_SYNC_BATCH_SIZE). */
export const MAX_COMMITS_PER_RANGE = 100
/** Block refs per FetchBlocks request: the server's cap (DESIGN.md §4). */
export const MAX_BLOCKS_PER_FETCH = 1_000
/**
 * Block refs the client asks for per FetchBlocks request (the server allows 1,000). A chunk is
 * verified once it has arrived whole, so smaller chunks start verification sooner after a range's
 * commits are known, while 250 blocks (2,500 certificates at 10 tx/block) still make large batches.
 */
export const BLOCKS_PER_CHUNK = 250
/** A FetchBlocks stream is cut off past this many bytes (Soma's MAX_TOTAL_FETCHED_BYTES). */
export const MAX_FETCHED_BYTES_PER_STREAM = 128 * 1024 * 1024
/**
 * Ranges in flight (fetched, verified or waiting to be delivered) ahead of the delivered watermark.
 * 8 × 100 commits keeps every peer busy and both cores verifying while bounding memory to a few
 * thousand blocks.
 */
export const DEFAULT_RANGE_WINDOW = 8
/**
 * Blocks held in memory at once (verified and waiting for delivery, or expected from verified commits).
 * A decoded block costs ≈ 10 KB of heap at 10 validators and ≈ 40 KB at 100 (every ancestor ref is its
 * own objects), so 1,500 blocks are ≈ 15–60 MB: three ranges (one fetching, one verifying, one being
 * written) still keep both cores verifying, even behind 100 ms RTT links (the sync bench's WAN profile).
 * At 100 validators the byte budget below binds first (≈ 1,100 blocks); together they keep the syncing
 * node under 400 MB whatever the chain's length.
 */
export const DEFAULT_MAX_BLOCKS_HELD = 1_500
/**
 * Encoded block bytes held in memory at once, the same blocks as `DEFAULT_MAX_BLOCKS_HELD` counted by
 * size: what a held block costs grows with the committee (each ancestor ref is 48 bytes on the wire
 * and ≈ 160 bytes of objects once decoded, and its bytes keep their message buffer alive), so a count
 * alone let 100-validator blocks (≈ 7.5 KB each) take the node past 400 MB. 8 MiB: ≈ 1,100 such blocks,
 * while at 10 validators (≈ 3 KB a block) the count still binds. Bytes per block are learned from the
 * blocks verified (`learnBlockBytes`).
 */
export const DEFAULT_MAX_BLOCK_BYTES_HELD = 8 * 1024 * 1024
/**
 * Blocks over which the learned bytes per block moves all the way to what is arriving: a few chunks,
 * so that a change of committee (and of block size) at an epoch is followed within a range or two.
 */
export const BLOCK_BYTES_MEAN_WINDOW = 1_000
/**
 * Ranges sized so that this many fit the block budget (at most 100 commits each): three keep one range
 * fetching, one verifying and one being written, whatever the commit size — at 10 validators that is
 * 50 commits per range, at 100 validators (≈ 100 blocks per commit) 5.
 */
export const RANGES_PER_BUDGET = 3
/** Block chunks in flight at once across all peers: enough to overlap network and verification. */
export const DEFAULT_BLOCK_CHUNKS_IN_FLIGHT = 6
/** Requests one peer serves us at once: spreads load and stops one slow peer holding several ranges. */
export const MAX_REQUESTS_PER_PEER = 3
/** Deadline of a FetchCommits call (Soma had none). */
export const FETCH_COMMITS_TIMEOUT_MS = 10_000
/** Deadline of a whole FetchBlocks stream (≤ 1,000 blocks, ≤ 128 MiB). */
export const FETCH_BLOCKS_TIMEOUT_MS = 30_000
/** Deadline of GetCommitAvailability / PushCommit (Soma's 10 s). */
export const SMALL_CALL_TIMEOUT_MS = 5_000
/** How often peers are asked for their heights (DESIGN.md §6.1). */
export const HEIGHT_POLL_INTERVAL_MS = 5_000
/** First backoff after a failed request to a peer; doubled per consecutive failure. */
export const BACKOFF_BASE_MS = 500
/** Longest backoff after failures (a peer that merely timed out comes back within this). */
export const BACKOFF_MAX_MS = 30_000
/**
 * Capacity of the CommittedSubDag PubSub (sliding). Small on purpose: each entry holds a sub-DAG's blocks
 * (≈ 4 MB at 100 validators), a subscriber's queue keeps them until it reads them, and a reader that
 * falls behind reads the store instead, so nothing is lost. 16 commits: a few ranges' worth at 100
 * validators; at 128 a reader catching up from the store held the whole 60-commit bench chain twice.
 */
export const SUBDAG_PUBSUB_CAPACITY = 16
/** Loop mailbox: worker results and store moves. Bounded; workers wait when full (results are never dropped). */
export const EVENT_QUEUE_CAPACITY = 4_096
/** PushCommit hints waiting for the loop; when full, new hints are dropped (the height poll recovers them). */
export const HINT_QUEUE_CAPACITY = 1_024
/** How often the loop wakes without events, so that backoffs expire and failed deliveries are retried. */
export const TICK_MS = 1_000
/** After a failed store write (I/O), the head range is written again after this long. */
export const DELIVERY_RETRY_MS = 1_000
/** Peers asked for their heights at once. */
export const HEIGHT_POLL_CONCURRENCY = 8
/** Peers told about a new certified commit at once. */
export const PUSH_CONCURRENCY = 8
/**
 * Entries of the sync peer table kept at most (claims, proofs, counters per peer). Above the inbound
 * connection cap (512) plus the outbound target, so connected peers never compete for a place; what the
 * cap bounds is churn — peers that connected once, claimed, and left. An entry is ~100 bytes.
 */
export const MAX_SYNC_PEERS = 1_024
/**
 * A disconnected peer's entry is dropped after this long (unless a request to it is still in flight or
 * its ban runs). A minute covers a flapping link or a restart (the peer keeps what it proved and its
 * counters), while a peer gone longer re-announces its heights when it comes back anyway.
 */
export const GONE_PEER_RETENTION_MS = 60_000
/**
 * Failed commit fetches above what a peer has proven (its claim going unserved, no answer in between)
 * after which its claim is discarded: it stops steering the target and the ranges beyond the others'
 * claims. Three: a single lost call or a backoff-spaced retry is not enough; at 0.5 + 1 + 2 s of backoff
 * a claim nobody serves is gone within seconds. An honest peer's next height answer restores it.
 */
export const CLAIM_FAILURES_TO_DISCARD = 3
/**
 * When every one of those failures was an error answer (the peer is there, and refuses to serve what it
 * claimed), the claim is an offence reported to the peer ledger, and its claims above what it proved
 * are ignored this long — so it cannot re-claim on the next height poll and steer again. The ledger's
 * penalty decays; a peer that keeps doing it is banned there.
 */
export const CLAIM_QUARANTINE_MS = 60_000
