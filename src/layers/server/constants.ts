/**
 * Every limit and default of the P2P server in one place, each with the reason for its value.
 * Protocol limits (DESIGN.md §4) are fixed; the defaults of `P2pServerConfig` can be overridden.
 */
import {
  BLOCK_REF_LENGTH,
  COMMIT_REF_LENGTH,
  MAX_BLOCK_REFS_PER_REQUEST,
  MAX_COMMITS_PER_RESPONSE,
  MAX_FETCH_BLOCKS_ANSWER_BYTES,
  MAX_KNOWN_PEERS_PER_RESPONSE,
  MAX_SIGNED_NODE_INFO_BYTES
} from "../../proto/limits.js"
import { MAX_MESSAGE_BYTES } from "../network/limits.js"

// --- protocol limits (DESIGN.md §4; defined in `src/proto/limits.ts`, shared with the clients) ------

export { BLOCK_REF_LENGTH, COMMIT_REF_LENGTH, MAX_BLOCK_REFS_PER_REQUEST, MAX_COMMITS_PER_RESPONSE, MAX_FETCH_BLOCKS_ANSWER_BYTES, MAX_KNOWN_PEERS_PER_RESPONSE }
/** Encoded bytes of one FetchBlocks stream message: the gRPC message limit. */
export const MAX_STREAM_MESSAGE_BYTES = MAX_MESSAGE_BYTES
/** Largest u32 (commit indices on the wire). */
export const U32_MAX = 0xffff_ffff
/** The largest GetKnownPeers `ownInfo`: the largest BCS `SignedNodeInfo` there can be (1,142 bytes). */
export const MAX_OWN_INFO_BYTES = MAX_SIGNED_NODE_INFO_BYTES

// --- receive limits and charges (checked before a request is decoded) --------------------------------

/**
 * Receive limit of the four routes whose requests are a few integers or one 36-byte ref: every valid
 * one is under 50 bytes, so 64 leaves room for framing and nothing for an attack.
 */
export const SMALL_REQUEST_BYTES = 64
/**
 * Receive limit of FetchBlocks: 1,000 refs of 48 bytes, each behind a tag and a one-byte length
 * (50,000 bytes), plus slack. The attack it closes: a 4 MiB request of two million empty refs.
 */
export const FETCH_BLOCKS_REQUEST_BYTES = MAX_BLOCK_REFS_PER_REQUEST * (BLOCK_REF_LENGTH + 2) + 64
/**
 * Request bytes worth one more rate token: a call costs 1 + ⌊bytes / 5,000⌋ tokens, so a full
 * FetchBlocks request (1,000 refs) costs 11, one ref per 100 refs asked for, and the small routes 1.
 * It is charged before the request is looked at, so an oversized or garbage request costs its sender
 * what it weighs (a 4 MiB one empties the bucket into its floor), whether or not it is refused.
 */
export const BYTES_PER_TOKEN = 5_000

/** The tokens a request of `bytes` costs. */
export const tokensFor = (bytes: number): number => 1 + Math.floor(bytes / BYTES_PER_TOKEN)

// --- defaults of P2pServerConfig --------------------------------------------------------------------

/**
 * Calls per second one peer may make to the six P2P routes, sustained. An honest peer makes a few:
 * GetKnownPeers and GetCommitAvailability every 5 s, a PushCommit per new commit (Mysticeti commits a
 * few to ~10 times a second), and a syncing peer keeps ≤ 3 fetches in flight, each serving 100 commits
 * or 1,000 blocks (verification caps it far below 100 fetches/s). 100/s leaves an order of magnitude of
 * headroom while capping what one identity can make us do.
 */
export const DEFAULT_RATE_PER_SECOND = 100
/** Calls a quiet peer may make at once (bucket size): covers a reconnect's fan-out and a burst of pushes. */
export const DEFAULT_BURST = 200
/**
 * Peers whose buckets are kept. ~100 bytes each, so 10,000 (the peer table's bound) is ~1 MB. When full,
 * idle buckets (refilled to the burst, so forgetting them loses nothing) go first, then the least
 * recently used, down to 90%: a flood of identities cannot grow memory, and the cost is amortised.
 */
export const DEFAULT_MAX_TRACKED_PEERS = 10_000
/** Fraction of `maxTrackedPeers` evicted at once when the table is full (amortises the sweep). */
export const EVICTION_FRACTION = 0.1
/**
 * Time a handler may take for a unary answer, or for the next message of a stream. Equal to the
 * longest client deadline of a unary call (FetchCommits, 10 s): past it nobody honest is still waiting,
 * and the call's concurrency slot is freed.
 */
export const DEFAULT_HANDLER_TIMEOUT_MS = 10_000
/**
 * Time a whole FetchBlocks stream may stay open, counting the time the caller takes to read it. Twice
 * the client's 30 s deadline: an honest stream ends well before, while a caller that reads slowly to
 * hold our buffers and its concurrency slots is cut off.
 */
export const DEFAULT_STREAM_TIMEOUT_MS = 60_000
/**
 * Time a stream may wait for its reader: from a message handed to the transport (which pulls the
 * next one only once the last is flushed, under HTTP/2 flow control) to the next pull. An honest
 * reader drains a 4 MiB message in well under a second on any link sync can use; one that stops
 * reading is cut after 10 s, freeing its buffered message and its concurrency slots.
 */
export const DEFAULT_NO_PROGRESS_TIMEOUT_MS = 10_000
