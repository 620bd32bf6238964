/**
 * Values of the LMDB store: the small fixed-size records of the `meta` database, and the decoding of
 * stored canonical bytes back into the domain's `Verified*` values (they were verified before they were
 * written, so they are only decoded, never checked again). Stored bytes that do not decode mean a
 * corrupt store: a `StoreError`.
 */
import { Either } from "effect"
import { decodeSignedBlock, markVerifiedBlock, type VerifiedBlock } from "../../domain/block.js"
import { decodeBcs } from "../../domain/codec.js"
import { decodeCommit, markVerifiedCommit, type VerifiedCommit } from "../../domain/commit.js"
import { decodeCommittee, type Committee } from "../../domain/committee.js"
import { BlockRefBcs, type BlockRef } from "../../domain/refs.js"
import { StoreError } from "../../services/Store.js"
import { readBigEndian, u32Key, u64Key } from "./keys.js"
import type { CheckpointRecord, Tip } from "./plan.js"

/** Layout version of the store; a store of another version is refused rather than misread. */
export const STORE_FORMAT = 1

const corrupt = (what: string, detail: string) =>
  new StoreError({ operation: "read", detail: `corrupt ${what}: ${detail}` })

/**
 * A plain `Uint8Array` of bytes LMDB returned, owning its whole `ArrayBuffer`: small Buffers can be
 * slices of Node's shared pool, and a pooled buffer handed on (say, transferred to a worker) would take
 * its neighbours with it. Values LMDB already copied into their own buffer are only re-typed.
 */
export const plainBytes = (bytes: Uint8Array): Uint8Array =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? new Uint8Array(bytes.buffer, 0, bytes.byteLength)
    : Uint8Array.prototype.slice.call(bytes)

/** `index u32 ‖ digest 32 ‖ epoch u64` (44 bytes): the tip, and the checkpoint with its committee's epoch. */
export const encodeTip = (tip: Tip): Buffer => Buffer.concat([u32Key(tip.index), tip.digest, u64Key(tip.epoch)])

/** Reads a record written by `encodeTip`. */
export const decodeTip = (bytes: Uint8Array): Either.Either<Tip, StoreError> => {
  if (bytes.length !== 44) return Either.left(corrupt("tip", `${bytes.length} bytes`))
  return Either.right({
    index: readBigEndian(bytes.subarray(0, 4)) as number,
    digest: bytes.slice(4, 36),
    epoch: readBigEndian(bytes.subarray(36, 44)) as number
  })
}

/** A checkpoint record, in the tip layout. */
export const encodeCheckpoint = (record: CheckpointRecord): Buffer =>
  encodeTip({ index: record.commitRef.index, digest: record.commitRef.digest, epoch: record.epoch })

/** Reads a checkpoint record. */
export const decodeCheckpoint = (bytes: Uint8Array): Either.Either<CheckpointRecord, StoreError> =>
  Either.map(decodeTip(bytes), (tip) => ({ commitRef: { index: tip.index, digest: tip.digest }, epoch: tip.epoch }))

/** Reads a big-endian integer record. */
export const decodeNumber = (what: string, bytes: Uint8Array): Either.Either<number, StoreError> => {
  const value = readBigEndian(bytes)
  return value === undefined ? Either.left(corrupt(what, `${bytes.length} bytes`)) : Either.right(value)
}

/** A stored block, with its ref rebuilt from the key (its digest) and its decoded fields — no hashing. */
export const decodeStoredBlock = (digest: Uint8Array, bytes: Uint8Array): Either.Either<VerifiedBlock, StoreError> =>
  Either.match(decodeSignedBlock(bytes), {
    onLeft: (error) => Either.left(corrupt("block", error.message)),
    onRight: (signed) =>
      Either.right(
        markVerifiedBlock(signed, bytes, { round: signed.block.round, author: signed.block.author, digest: digest.slice(), epoch: signed.block.epoch })
      )
  })

/** A stored commit (its digest is recomputed from the bytes: one Blake2b of ~100 bytes). */
export const decodeStoredCommit = (bytes: Uint8Array): Either.Either<VerifiedCommit, StoreError> =>
  Either.match(decodeCommit(bytes), {
    onLeft: (error) => Either.left(corrupt("commit", error.message)),
    onRight: (commit) => Either.right(markVerifiedCommit(commit, bytes))
  })

/** A stored committee. */
export const decodeStoredCommittee = (bytes: Uint8Array): Either.Either<Committee, StoreError> =>
  Either.mapLeft(decodeCommittee(bytes), (error) => corrupt("committee", error.message))

/** The voter ref stored as a vote's value. */
export const decodeStoredBlockRef = (bytes: Uint8Array): Either.Either<BlockRef, StoreError> =>
  Either.mapLeft(decodeBcs(BlockRefBcs, bytes), (error) => corrupt("vote", error.message))
