/**
 * The BLS view of a committee, built once per committee object: its authority keys as one `BlsKeySet`
 * (so the crypto layer deserialises and subgroup-checks each key once per epoch) and the proof-of-
 * possession checks that make the committee acceptable at all. Committees are immutable once stored,
 * and sync keeps one object per epoch (committee cache), so a WeakMap by identity is enough.
 */
import { toHex } from "../../domain/bytes.js"
import { signersBitmap } from "../../domain/certificate.js"
import { proofOfPossessionMessage, type Committee } from "../../domain/committee.js"
import { blake2b256Concat } from "../../domain/hash.js"
import type { AggregateItem, BlsKeySet } from "../../services/Crypto.js"

const keySets = new WeakMap<Committee, BlsKeySet>()

/** The committee's authority keys by index; the id is a digest of the keys, so equal ids mean equal keys. */
export const blsKeySetOf = (committee: Committee): BlsKeySet => {
  let set = keySets.get(committee)
  if (set === undefined) {
    const keys = committee.authorities.map((a) => a.authorityKey)
    set = { id: `committee:${toHex(blake2b256Concat(...keys))}`, keys }
    keySets.set(committee, set)
  }
  return set
}

/** One key as a key set of its own (proofs of possession are single-signer aggregates). */
const singleKeySet = (key: Uint8Array): BlsKeySet => ({ id: `key:${toHex(key)}`, keys: [key] })
const ONLY_SIGNER = signersBitmap([0], 1)

/** The proof-of-possession check of every member, in authority order. */
export const proofOfPossessionItems = (committee: Committee): Array<AggregateItem> =>
  committee.authorities.map((a) => ({
    keySet: singleKeySet(a.authorityKey),
    signers: ONLY_SIGNER,
    message: proofOfPossessionMessage(a.authorityKey, a.networkKey),
    signature: a.authorityKeyProof
  }))
