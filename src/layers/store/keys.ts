/**
 * LMDB key layout. Every key is raw bytes in a named database; integers are big-endian so that LMDB's
 * byte order is numeric order and ranges are plain cursor scans:
 *
 * | database     | key                                                  | value                         |
 * |--------------|------------------------------------------------------|-------------------------------|
 * | `blocks`     | block digest (32)                                    | BCS `SignedBlock`             |
 * | `commits`    | commit index u32 BE (4)                              | BCS `Commit`                  |
 * | `committees` | epoch u64 BE (8)                                     | BCS `Committee`               |
 * | `epochEnds`  | epoch u64 BE (8)                                     | last commit index u32 BE      |
 * | `votes`      | voted index u32 BE ‖ voted digest (32) ‖ voter digest (32) | BCS `BlockRef` of the voter |
 * | `meta`       | ASCII name (`format`, `tip`, `lowestAvailable`, `checkpoint`, `executorWatermark`) | see records.ts |
 * | `executor`   | UTF-8 key                                            | the executor's bytes          |
 */

/** Names of the LMDB databases of one environment. */
export const DB_NAMES = ["blocks", "commits", "committees", "epochEnds", "votes", "meta", "executor"] as const
export type DbName = (typeof DB_NAMES)[number]

/** Largest u32 (commit indices). */
export const MAX_U32 = 0xffff_ffff

/** A u32 as 4 big-endian bytes. */
export const u32Key = (value: number): Buffer => {
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32BE(value)
  return out
}

/** A safe integer as 8 big-endian bytes (epochs). */
export const u64Key = (value: number): Buffer => {
  const out = Buffer.allocUnsafe(8)
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), 0)
  out.writeUInt32BE(value % 0x1_0000_0000, 4)
  return out
}

/** Reads a big-endian u32 (4 bytes) or u64 (8 bytes) key or value; `undefined` for another length. */
export const readBigEndian = (bytes: Uint8Array): number | undefined => {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.length === 4) return view.readUInt32BE(0)
  if (view.length === 8) return view.readUInt32BE(0) * 0x1_0000_0000 + view.readUInt32BE(4)
  return undefined
}

/** The vote of block `voter` for commit (`index`, `commitDigest`). */
export const voteKey = (index: number, commitDigest: Uint8Array, voterDigest: Uint8Array): Buffer =>
  Buffer.concat([u32Key(index), commitDigest, voterDigest])

/** Keys of the `meta` database. */
export const META = {
  format: Buffer.from("format"),
  tip: Buffer.from("tip"),
  lowestAvailable: Buffer.from("lowestAvailable"),
  checkpoint: Buffer.from("checkpoint"),
  executorWatermark: Buffer.from("executorWatermark")
} as const

/**
 * The cursor range `[start, end)` of keys whose first bytes are `prefix`: `end` is the prefix with its
 * last byte below 0xff incremented (none when the prefix is empty or all 0xff).
 */
export const prefixEnd = (prefix: Uint8Array): Buffer | undefined => {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1
      return end.subarray(0, i + 1)
    }
  }
  return undefined
}
