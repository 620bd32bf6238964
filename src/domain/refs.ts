/** References: `BlockRef` names a block, `CommitRef` a commit; both end in the object's digest. */
import { Schema } from "effect"
import { toHex } from "./bytes.js"
import { fixedBytes, struct, u32, u64 } from "./codec.js"
import { Digest, U32, U64 } from "./primitives.js"

/** A block: its round, author, digest and epoch. */
export const BlockRef = Schema.Struct({ round: U32, author: U32, digest: Digest, epoch: U64 })
export type BlockRef = typeof BlockRef.Type

/** A commit: its index and digest (also what a commit vote names). */
export const CommitRef = Schema.Struct({ index: U32, digest: Digest })
export type CommitRef = typeof CommitRef.Type

/** BCS layout of `BlockRef` (48 bytes). */
export const BlockRefBcs = struct("BlockRef", { round: u32, author: u32, digest: fixedBytes(32, "digest"), epoch: u64 })
/** Encoded size of a `BlockRef`. */
export const BLOCK_REF_BYTES = 4 + 4 + 32 + 8

/** BCS layout of `CommitRef` (36 bytes). */
export const CommitRefBcs = struct("CommitRef", { index: u32, digest: fixedBytes(32, "digest") })
/** Encoded size of a `CommitRef`. */
export const COMMIT_REF_BYTES = 4 + 32

/** A string key for maps and sets of blocks: digests are unique, so the digest alone identifies a block. */
export const blockRefKey = (ref: BlockRef): string => toHex(ref.digest)

/** Human-readable form for logs: `B{round}({author},{digest prefix})`. */
export const showBlockRef = (ref: BlockRef): string => `B${ref.round}(${ref.author},${toHex(ref.digest).slice(0, 8)})`

/** Human-readable form for logs: `C{index}({digest prefix})`. */
export const showCommitRef = (ref: CommitRef): string => `C${ref.index}(${toHex(ref.digest).slice(0, 8)})`
