/**
 * Every limit and default of the P2P server in one place, each with the reason for its value.
 * Protocol limits (DESIGN.md §4) are fixed; the defaults of `P2pServerConfig` can be overridden.
 */
import { MAX_ADDRESS_BYTES, MAX_NODE_ADDRESSES } from "../../domain/limits.js"
import { BLOCK_REF_BYTES, COMMIT_REF_BYTES } from "../../domain/refs.js"
import { MAX_MESSAGE_BYTES } from "../network/limits.js"
import { MAX_BLOCKS_PER_FETCH, MAX_COMMITS_PER_RANGE } from "../sync/constants.js"

// --- protocol limits (DESIGN.md §4) ---------------------------------------------------------------

/** SignedNodeInfos in one GetKnownPeers answer (Soma's MAX_PEERS_TO_SEND); more are cut off. */
export const MAX_KNOWN_PEERS_PER_RESPONSE = 200
/** Commits in one FetchCommits answer; a larger answer is refused, since cutting it would drop its certificate. */
export const MAX_COMMITS_PER_RESPONSE = MAX_COMMITS_PER_RANGE
/** Refs in one FetchBlocks request (Soma declared it and did not enforce it); more is RESOURCE_EXHAUSTED. */
export const MAX_BLOCK_REFS_PER_REQUEST = MAX_BLOCKS_PER_FETCH
/** Encoded bytes of one FetchBlocks stream message: the gRPC message limit. */
export const MAX_STREAM_MESSAGE_BYTES = MAX_MESSAGE_BYTES
/** A FetchBlocks ref is a BCS `BlockRef` (round u32, author u32, digest 32, epoch u64): exactly 48 bytes. */
export const BLOCK_REF_LENGTH = BLOCK_REF_BYTES
/** A PushCommit ref is a BCS `CommitRef` (index u32, digest 32): exactly 36 bytes. */
export const COMMIT_REF_LENGTH = COMMIT_REF_BYTES
/** Largest u32 (commit indices on the wire). */
export const U32_MAX = 0xffff_ffff

/** ULEB128 bytes of a length. */
const ulebBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : 3)

/**
 * The largest BCS `SignedNodeInfo` there can be: peerId 32, address vector (count + each address's
 * length prefix and bytes), timestamp 8, role 1, capabilities 4, signature 64 — 1,142 bytes. Anything
 * longer cannot decode, so it is refused before discovery looks at it.
 */
export const MAX_OWN_INFO_BYTES =
  32 + ulebBytes(MAX_NODE_ADDRESSES) + MAX_NODE_ADDRESSES * (ulebBytes(MAX_ADDRESS_BYTES) + MAX_ADDRESS_BYTES) + 8 + 1 + 4 + 64

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
