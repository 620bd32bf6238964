/**
 * The packed form of a verification chunk: what the main thread sends to a verification worker (and
 * what the node layer's inline BLS path verifies directly). One chunk is ONE transferable ArrayBuffer,
 * never an array of objects: a structured clone of thousands of small objects costs more than the
 * verification it carries, a transfer costs nothing.
 *
 * Every chunk starts with `u32le kind`, so one worker pool serves both signature schemes:
 *
 * - `ChunkKind.Ed25519`: u32le count, then per item pk (32) | sig (64) | u32le msgLen | msg.
 *   Only items that passed the strict pre-check (ed25519Strict.ts) are packed.
 * - `ChunkKind.BlsAggregate`: u32le keySetCount, then per key set
 *     u32le idLen | id (UTF-8) | u32le keyCount | keyCount flags (1 = a 48-byte key, 0 = a key of
 *     another length, i.e. invalid) | keyCount × 48 bytes (zeros where the flag is 0);
 *   then u32le count, and per item
 *     u32le keySetIndex | u32le signersLen | signers | u8 sigFlag (1 = 96 bytes) | sig (96) |
 *     u32le msgLen | msg.
 *   Each key set travels with every chunk that uses it (100 keys ≈ 5 KB, cheap); the reader decodes
 *   it only when it has not seen that id with these exact bytes before.
 *
 * The readers are `verifyWorker.mjs` (Ed25519) and `blsVerify.mjs` (BLS); they are plain JS and
 * repeat the two kind values below — change both sides together.
 */
import type { AggregateItem, BlsKeySet, VerifyItem } from "../../services/Crypto.js"

/** The tag in the first 4 bytes of a chunk. */
export const ChunkKind = { Ed25519: 0, BlsAggregate: 1 } as const

const BLS_KEY_LENGTH = 48
const BLS_SIGNATURE_LENGTH = 96
const utf8 = new TextEncoder()

/** Bytes of one packed Ed25519 item: pk (32) | sig (64) | u32le msgLen | msg. */
export const ed25519ItemSize = (item: VerifyItem): number => 100 + item.message.length

/** Packs Ed25519 `items[indices[start..end)]` (already pre-checked) into one chunk. */
export const packEd25519Chunk = (
  items: ReadonlyArray<VerifyItem>,
  indices: ReadonlyArray<number>,
  start: number,
  end: number
): ArrayBuffer => {
  let total = 8
  for (let j = start; j < end; j++) total += ed25519ItemSize(items[indices[j]!]!)
  const buffer = new ArrayBuffer(total)
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  view.setUint32(0, ChunkKind.Ed25519, true)
  view.setUint32(4, end - start, true)
  let offset = 8
  for (let j = start; j < end; j++) {
    const item = items[indices[j]!]!
    bytes.set(item.publicKey, offset)
    bytes.set(item.signature, offset + 32)
    view.setUint32(offset + 96, item.message.length, true)
    bytes.set(item.message, offset + 100)
    offset += ed25519ItemSize(item)
  }
  return buffer
}

/** Bytes of one packed BLS item, without its key set. */
export const blsItemSize = (item: AggregateItem): number =>
  8 + item.signers.length + 1 + BLS_SIGNATURE_LENGTH + 4 + item.message.length

const bufferOf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)

const sameKeys = (a: BlsKeySet, b: BlsKeySet): boolean => {
  if (a.keys === b.keys) return true
  if (a.keys.length !== b.keys.length) return false
  for (let k = 0; k < a.keys.length; k++) {
    if (!bufferOf(a.keys[k]!).equals(b.keys[k]!)) return false
  }
  return true
}

/**
 * Packs BLS `items[start..end)` into one chunk, each distinct key set once. Key sets are told apart by
 * id; should two key sets share an id but not their keys (a caller bug), both are packed and each item
 * keeps its own, so the verdicts stay right either way.
 */
export const packBlsChunk = (items: ReadonlyArray<AggregateItem>, start: number, end: number): ArrayBuffer => {
  const keySets: Array<{ readonly keySet: BlsKeySet; readonly id: Uint8Array }> = []
  const byId = new Map<string, Array<number>>()
  const keySetIndex = new Array<number>(end - start)
  let total = 8
  for (let j = start; j < end; j++) {
    const item = items[j]!
    const candidates = byId.get(item.keySet.id) ?? []
    let index = candidates.find((c) => sameKeys(keySets[c]!.keySet, item.keySet))
    if (index === undefined) {
      index = keySets.length
      const id = utf8.encode(item.keySet.id)
      keySets.push({ keySet: item.keySet, id })
      candidates.push(index)
      byId.set(item.keySet.id, candidates)
      total += 8 + id.length + item.keySet.keys.length * (1 + BLS_KEY_LENGTH)
    }
    keySetIndex[j - start] = index
    total += blsItemSize(item)
  }
  total += 4

  const buffer = new ArrayBuffer(total)
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  view.setUint32(0, ChunkKind.BlsAggregate, true)
  view.setUint32(4, keySets.length, true)
  let offset = 8
  for (const { keySet, id } of keySets) {
    view.setUint32(offset, id.length, true)
    bytes.set(id, offset + 4)
    offset += 4 + id.length
    const keyCount = keySet.keys.length
    view.setUint32(offset, keyCount, true)
    offset += 4
    const keysOffset = offset + keyCount
    keySet.keys.forEach((key, k) => {
      if (key.length !== BLS_KEY_LENGTH) return // flag 0, zero bytes: the reader treats it as invalid
      bytes[offset + k] = 1
      bytes.set(key, keysOffset + k * BLS_KEY_LENGTH)
    })
    offset = keysOffset + keyCount * BLS_KEY_LENGTH
  }
  view.setUint32(offset, end - start, true)
  offset += 4
  for (let j = start; j < end; j++) {
    const item = items[j]!
    view.setUint32(offset, keySetIndex[j - start]!, true)
    view.setUint32(offset + 4, item.signers.length, true)
    bytes.set(item.signers, offset + 8)
    offset += 8 + item.signers.length
    if (item.signature.length === BLS_SIGNATURE_LENGTH) {
      bytes[offset] = 1
      bytes.set(item.signature, offset + 1)
    }
    offset += 1 + BLS_SIGNATURE_LENGTH
    view.setUint32(offset, item.message.length, true)
    bytes.set(item.message, offset + 4)
    offset += 4 + item.message.length
  }
  return buffer
}
