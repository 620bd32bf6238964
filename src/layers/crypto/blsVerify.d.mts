// Types of blsVerify.mjs (plain JS so that worker threads load it without a TypeScript loader).
import type { PublicKey, Signature } from "@chainsafe/blst"

/** Chunk kind tag of a BLS chunk (`ChunkKind.BlsAggregate` in chunkFormat.ts). */
export declare const BLS_CHUNK_KIND: 1

/** Verdicts (1 = valid, 0 = invalid) of a packed BLS chunk (layout: chunkFormat.ts), item i at index i. */
export declare const verifyBlsChunk: (buffer: ArrayBuffer) => Uint8Array

/** A validated public key (exactly 48 bytes; on the curve, in G1, not infinity), or `null`. */
export declare const decodeBlsPublicKey: (bytes: Uint8Array) => PublicKey | null

/** A validated signature (exactly 96 bytes; on the curve, in G2, not infinity), or `null`. */
export declare const decodeBlsSignature: (bytes: Uint8Array) => Signature | null

/** Counters of the calling thread's BLS caches and pairing checks. */
export interface BlsVerifyStats {
  /** Key sets decoded (a cache miss on the key-set id, or the same id with other keys). */
  readonly keySetDecodes: number
  readonly aggregateHits: number
  readonly aggregateMisses: number
  /** Pairing checks run: one per chunk when every item is valid, more when bisecting. */
  readonly batchChecks: number
  /** Entries in the key-set and aggregated-key caches now. */
  readonly keySets: number
  readonly aggregates: number
}

export declare const blsVerifyStats: () => BlsVerifyStats
