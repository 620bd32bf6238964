/**
 * Message limits of `soma.p2p.v1.P2p` (DESIGN.md §4), shared by the server (checked before a request
 * is decoded) and the clients (checked before a response is decoded). Each with the reason for its value.
 */
import { MAX_ADDRESS_BYTES, MAX_COMMITTEE_SIZE, MAX_NODE_ADDRESSES } from "../domain/limits.js"
import { BLOCK_REF_BYTES, COMMIT_REF_BYTES } from "../domain/refs.js"

/** SignedNodeInfos in one GetKnownPeers answer (Soma's MAX_PEERS_TO_SEND). */
export const MAX_KNOWN_PEERS_PER_RESPONSE = 200
/** Commits in one FetchCommits answer (Soma's COMMIT_SYNC_BATCH_SIZE). */
export const MAX_COMMITS_PER_RESPONSE = 100
/** Certifier refs in one FetchCommits answer: at most one per member of the largest committee. */
export const MAX_CERTIFIER_REFS_PER_RESPONSE = MAX_COMMITTEE_SIZE
/** Refs in one FetchBlocks request (Soma declared it and did not enforce it). */
export const MAX_BLOCK_REFS_PER_REQUEST = 1_000
/**
 * Blocks in one FetchBlocks message. No honest message carries more than were asked for, and no
 * request asks for more than 1,000; a client also checks each stream against its own request.
 */
export const MAX_BLOCKS_PER_MESSAGE = MAX_BLOCK_REFS_PER_REQUEST
/**
 * Block bytes in one FetchBlocks answer (all its messages). Blocks past it are left out, in request
 * order, so an answer is a prefix of what was asked for (duplicates removed). A client that received
 * at least `MAX_FETCH_BLOCKS_ANSWER_BYTES − MAX_BLOCK_BYTES_IN_ANSWER` bytes knows the rest may have been
 * cut for size and asks for it again without blaming the server. 32 MiB is 8 full messages: an
 * honest chunk of 250 blocks is a few MiB, while one request can no longer make a server read and
 * send 1,000 × 4 MiB.
 */
export const MAX_FETCH_BLOCKS_ANSWER_BYTES = 32 * 1024 * 1024
/** Largest block a FetchBlocks answer carries: one 4 MiB message less room for the framing. */
export const MAX_BLOCK_BYTES_IN_ANSWER = 4 * 1024 * 1024 - 64 * 1024

/** A BCS `BlockRef` (round u32, author u32, digest 32, epoch u64): exactly 48 bytes. */
export const BLOCK_REF_LENGTH = BLOCK_REF_BYTES
/** A BCS `CommitRef` (index u32, digest 32): exactly 36 bytes. */
export const COMMIT_REF_LENGTH = COMMIT_REF_BYTES

/** ULEB128 bytes of a length. */
const ulebBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : 3)

/**
 * The largest BCS `SignedNodeInfo` there can be: peerId 32, address vector (count + each address's
 * length prefix and bytes), timestamp 8, role 1, capabilities 4, signature 64 — 1,142 bytes. Anything
 * longer cannot decode, so it is refused before anyone looks at it.
 */
export const MAX_SIGNED_NODE_INFO_BYTES =
  32 + ulebBytes(MAX_NODE_ADDRESSES) + MAX_NODE_ADDRESSES * (ulebBytes(MAX_ADDRESS_BYTES) + MAX_ADDRESS_BYTES) + 8 + 1 + 4 + 64
