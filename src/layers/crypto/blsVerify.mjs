// BLS12-381 aggregate-signature verification of one packed chunk (layout: chunkFormat.ts) with
// @chainsafe/blst (native blst). The verification workers run it, and so does NodeCryptoLayer for
// batches small enough to verify inline: one implementation, so the verdict cannot depend on the path.
//
// Plain JS (typed by blsVerify.d.mts) because the worker must load the same under vitest, tsx and built
// output; @chainsafe/blst is a prebuilt native addon and loads in worker threads.
//
// Per item, in order: signature of 96 bytes; signer bitmap of exactly ⌈n/8⌉ bytes, no bit past n, at
// least one bit; every signer key valid (48 bytes, on the curve, in G1, not infinity); the aggregated
// key not infinity (KeyValidate of the aggregate, as the IETF CoreVerify does); the signature decodes
// (curve, subgroup, not infinity). Anything else is `false` for that item only. The survivors are
// checked with ONE random-scalar batch (verifyMultipleAggregateSignatures); if it fails, the chunk is
// bisected to find exactly the failing items.
//
// Caches (module state, so one set per thread, each bounded):
// - decoded committee keys per key-set id (MAX_KEY_SETS, LRU): a committee is decoded once per epoch,
//   not once per certificate. The packed bytes are kept and compared on every use (≈ 1 µs for 100
//   keys), so a reused id with other keys is decoded afresh instead of giving a wrong verdict;
// - aggregated public keys per (key set, signer bitmap) (MAX_AGGREGATES, LRU).
import { aggregatePublicKeys, PublicKey, Signature, verify, verifyMultipleAggregateSignatures } from "@chainsafe/blst"

/** Chunk kind tag of chunkFormat.ts (`ChunkKind.BlsAggregate`). */
export const BLS_CHUNK_KIND = 1

const KEY_LENGTH = 48
const SIGNATURE_LENGTH = 96
/** Committees in use at once: the current epoch, the next one, a few old ones during sync. */
const MAX_KEY_SETS = 8
/** Aggregated keys kept (≈ 250 B each with the key string: ≈ 1 MB per thread). */
const MAX_AGGREGATES = 4096

/** @type {Map<string, {packed: Uint8Array, generation: number, keys: Array<PublicKey | null>}>} */
const keySets = new Map()
/** Keyed by `${generation}:${bitmap as latin1}`; `null` = the signer set is invalid. */
const aggregates = new Map()
let nextGeneration = 0
const stats = { keySetDecodes: 0, aggregateHits: 0, aggregateMisses: 0, batchChecks: 0 }

const utf8 = new TextDecoder()
const bufferOf = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** Map as LRU: a hit moves the entry to the end; inserting past `max` drops the oldest. */
const lruGet = (map, key) => {
  const value = map.get(key)
  if (value !== undefined) {
    map.delete(key)
    map.set(key, value)
  }
  return value
}
const lruSet = (map, key, value, max) => {
  map.set(key, value)
  if (map.size > max) map.delete(map.keys().next().value)
}

/** A validated public key (48 bytes; curve, subgroup and infinity checks), or `null`. */
export const decodeBlsPublicKey = (bytes) => {
  if (bytes.length !== KEY_LENGTH) return null // blst would also take a 96-byte uncompressed key
  try {
    return PublicKey.fromBytes(bytes, true)
  } catch {
    return null
  }
}

/** A validated signature (96 bytes; curve and subgroup checks, infinity refused), or `null`. */
export const decodeBlsSignature = (bytes) => {
  if (bytes.length !== SIGNATURE_LENGTH) return null // blst would also take 192-byte uncompressed
  try {
    return Signature.fromBytes(bytes, true, true)
  } catch {
    return null
  }
}

/** The decoded key set of `packed` (u32 idLen | id | u32 keyCount | flags | keys), from the cache if it is there. */
const resolveKeySet = (id, packed, keysStart, keyCount) => {
  const cached = lruGet(keySets, id)
  if (cached !== undefined && bufferOf(cached.packed).equals(packed)) return cached
  stats.keySetDecodes++
  const keys = new Array(keyCount)
  const keysOffset = keysStart + keyCount
  for (let k = 0; k < keyCount; k++) {
    const start = keysOffset + k * KEY_LENGTH
    keys[k] = packed[keysStart + k] === 1 ? decodeBlsPublicKey(packed.subarray(start, start + KEY_LENGTH)) : null
  }
  const entry = { packed: packed.slice(), generation: nextGeneration++, keys }
  lruSet(keySets, id, entry, MAX_KEY_SETS)
  return entry
}

const isInfinity = (publicKey) => {
  const bytes = publicKey.toBytes()
  if (bytes[0] !== 0xc0) return false
  for (let i = 1; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/** The aggregated key of the signers, or `null` if the bitmap or a signer key is invalid. */
const aggregateOf = (keySet, signers) => {
  const n = keySet.keys.length
  if (signers.length !== Math.ceil(n / 8)) return null
  if (n % 8 !== 0 && signers[signers.length - 1] >> n % 8 !== 0) return null // a bit past n
  const cacheKey = `${keySet.generation}:${bufferOf(signers).toString("latin1")}`
  const cached = lruGet(aggregates, cacheKey)
  if (cached !== undefined) {
    stats.aggregateHits++
    return cached
  }
  stats.aggregateMisses++
  const members = []
  let aggregate = null
  for (let i = 0; i < n; i++) {
    if (((signers[i >> 3] >> (i & 7)) & 1) === 0) continue
    const key = keySet.keys[i]
    if (key === null) {
      members.length = 0
      break
    }
    members.push(key)
  }
  if (members.length === 1) aggregate = members[0]
  if (members.length > 1) {
    // Keys are validated, so aggregation need not re-check them; the sum can still be infinity.
    // Nothing a peer sends may throw out of here (it would crash the worker): a failure is `false`.
    try {
      const sum = aggregatePublicKeys(members, false)
      aggregate = isInfinity(sum) ? null : sum
    } catch {
      aggregate = null
    }
  }
  lruSet(aggregates, cacheKey, aggregate, MAX_AGGREGATES)
  return aggregate
}

/** One pairing check over `sets` (a single set: plain verify; several: random-scalar batch). Never throws. */
const check = (sets) => {
  stats.batchChecks++
  try {
    if (sets.length === 1) return verify(sets[0].msg, sets[0].pk, sets[0].sig, false, false)
    return verifyMultipleAggregateSignatures(sets, false, false)
  } catch {
    return false
  }
}

/**
 * Sets `verdicts[indices[j]] = 1` for every valid set. `knownBad`: the caller already knows the batch
 * fails (its parent failed and its sibling passed), so the check is skipped.
 */
const settle = (sets, indices, verdicts, knownBad) => {
  if (sets.length === 0) return
  if (!knownBad && check(sets)) {
    for (const index of indices) verdicts[index] = 1
    return
  }
  if (sets.length === 1) return
  const mid = sets.length >> 1
  const left = sets.slice(0, mid)
  const leftIndices = indices.slice(0, mid)
  if (check(left)) {
    for (const index of leftIndices) verdicts[index] = 1
    settle(sets.slice(mid), indices.slice(mid), verdicts, true)
  } else {
    settle(left, leftIndices, verdicts, true)
    settle(sets.slice(mid), indices.slice(mid), verdicts, false)
  }
}

/** Verdicts (1 = valid, 0 = invalid) of the BLS chunk in `buffer`, item i at index i. */
export const verifyBlsChunk = (buffer) => {
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  if (view.getUint32(0, true) !== BLS_CHUNK_KIND) throw new Error("not a BLS chunk")
  const keySetCount = view.getUint32(4, true)
  let offset = 8
  const chunkKeySets = new Array(keySetCount)
  for (let s = 0; s < keySetCount; s++) {
    const start = offset
    const idLength = view.getUint32(offset, true)
    const id = utf8.decode(bytes.subarray(offset + 4, offset + 4 + idLength))
    offset += 4 + idLength
    const keyCount = view.getUint32(offset, true)
    offset += 4
    const keysStart = offset - start
    offset += keyCount * (1 + KEY_LENGTH)
    chunkKeySets[s] = resolveKeySet(id, bytes.subarray(start, offset), keysStart, keyCount)
  }

  const count = view.getUint32(offset, true)
  offset += 4
  const verdicts = new Uint8Array(count)
  const sets = []
  const indices = []
  for (let i = 0; i < count; i++) {
    const keySet = chunkKeySets[view.getUint32(offset, true)]
    const signersLength = view.getUint32(offset + 4, true)
    const signers = bytes.subarray(offset + 8, offset + 8 + signersLength)
    offset += 8 + signersLength
    const signatureFlag = bytes[offset]
    const signature = bytes.subarray(offset + 1, offset + 1 + SIGNATURE_LENGTH)
    offset += 1 + SIGNATURE_LENGTH
    const messageLength = view.getUint32(offset, true)
    const message = bytes.subarray(offset + 4, offset + 4 + messageLength)
    offset += 4 + messageLength

    if (signatureFlag !== 1) continue
    const pk = aggregateOf(keySet, signers)
    if (pk === null) continue
    const sig = decodeBlsSignature(signature)
    if (sig === null) continue
    sets.push({ msg: message, pk, sig })
    indices.push(i)
  }
  settle(sets, indices, verdicts, false)
  return verdicts
}

/** Counters of this thread's caches and pairing checks (tests and benchmarks). */
export const blsVerifyStats = () => ({ ...stats, keySets: keySets.size, aggregates: aggregates.size })
