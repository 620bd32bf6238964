/**
 * Bounds on every variable-length field of the data model. Decoders refuse anything longer before
 * allocating, so a peer cannot make us allocate in proportion to a length it wrote.
 */

/** Largest committee we accept. Soma/Sui committees are ~100 validators; 256 leaves room. */
export const MAX_COMMITTEE_SIZE = 256
/** Bytes of a signers bitmap at the largest committee: one bit per authority. */
export const MAX_SIGNERS_BITMAP_BYTES = MAX_COMMITTEE_SIZE / 8
/** A block names at most one ancestor per authority. */
export const MAX_ANCESTORS = MAX_COMMITTEE_SIZE
/** Transactions per block: 1,000 keeps a block well under the 4 MiB message limit at typical sizes. */
export const MAX_TRANSACTIONS_PER_BLOCK = 1_000
/** One encoded transaction (certificate included): 64 KiB, far above a transfer's few hundred bytes. */
export const MAX_TRANSACTION_BYTES = 64 * 1024
/** Commit votes per block: a block votes for the commits since its author's last block; a handful in practice. */
export const MAX_COMMIT_VOTES_PER_BLOCK = 1_000
/** Blocks listed by one commit (the leader's linearised causal history): bounded by committee × rounds. */
export const MAX_BLOCKS_PER_COMMIT = 10_000
/** Addresses a node may advertise in its NodeInfo (DESIGN.md §3). */
export const MAX_NODE_ADDRESSES = 4
/** Bytes of one advertised address (DESIGN.md §3). */
export const MAX_ADDRESS_BYTES = 256
/** Bytes of an authority's hostname. */
export const MAX_HOSTNAME_BYTES = 128
/** Value bytes of one shared-object write in a transaction. */
export const MAX_SHARED_VALUE_BYTES = 1_024
/** Bytes of a shared-object key. */
export const MAX_SHARED_KEY_BYTES = 64
