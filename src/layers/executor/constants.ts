/** The executor's tuning knobs, each with the reason for its value. */

/**
 * Most commits in one `writeExecution`. The commit stream hands over up to 64 commits at once while it
 * reads the store (catching up) and one at a time when it follows live commits; executing a whole
 * hand-over in one write costs one LMDB commit + fsync per 64 commits when behind, and adds no latency
 * when live. The same value keeps one write's size bounded whatever the stream does.
 */
export const MAX_COMMITS_PER_WRITE = 64

/**
 * A write is closed early once it holds this many transactions (a commit is never split: it is the
 * unit of atomicity). Each transaction is ~4 puts, so a write stays around 40k puts at most.
 */
export const MAX_TRANSACTIONS_PER_WRITE = 10_000

/**
 * Executed-commit notifications kept per subscriber (sliding: a subscriber further behind loses the
 * oldest). The executor never waits for a subscriber; a notification is small (a digest and counters).
 */
export const NOTIFICATION_CAPACITY = 1_024

/** First pause after the executor loop fails (a store error); doubled per failure without progress. */
export const RESTART_BACKOFF_BASE_MS = 200

/** Longest pause between restarts: a stuck executor keeps logging, but not in a tight loop. */
export const RESTART_BACKOFF_MAX_MS = 30_000
