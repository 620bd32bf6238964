/**
 * The validator committee of an epoch and the stake arithmetic every certificate check rests on.
 * Thresholds come from the committee's **actual** total stake (quorum = ⌊2·total/3⌋ + 1, validity =
 * ⌊total/3⌋ + 1) — unlike Soma's fixed 6,667-of-10,000, which never reaches quorum when stakes are not
 * normalised to 10,000.
 */
import { Schema } from "effect"
import { boundedString, boundedVector, decodeBcs, encodeBcs, fixedBytes, struct, u64 } from "./codec.js"
import { blake2b256 } from "./hash.js"
import { intentMessage, IntentScope } from "./intent.js"
import { MAX_ADDRESS_BYTES, MAX_COMMITTEE_SIZE, MAX_HOSTNAME_BYTES } from "./limits.js"
import { BlsPublicKey, BlsSignature, BoundedString, PublicKey, U64 } from "./primitives.js"

/**
 * A validator: its stake and its three keys (protocol, Ed25519: blocks; network, Ed25519: PeerId;
 * authority, BLS12-381: certificates and epoch changes), with the authority key's proof of possession.
 */
export const Authority = Schema.Struct({
  stake: U64.pipe(Schema.positive()),
  protocolKey: PublicKey,
  networkKey: PublicKey,
  authorityKey: BlsPublicKey,
  /** BLS signature by `authorityKey` over `proofOfPossessionMessage` (checked whenever a committee is accepted). */
  authorityKeyProof: BlsSignature,
  address: BoundedString(MAX_ADDRESS_BYTES, "address"),
  hostname: BoundedString(MAX_HOSTNAME_BYTES, "hostname")
})
export type Authority = typeof Authority.Type

/** The committee of an epoch; an authority's position is its `AuthorityIndex`. */
export const Committee = Schema.Struct({
  epoch: U64,
  authorities: Schema.Array(Authority).pipe(Schema.minItems(1), Schema.maxItems(MAX_COMMITTEE_SIZE))
}).pipe(
  Schema.filter(
    (c) => c.authorities.reduce((sum, a) => sum + a.stake, 0) <= Number.MAX_SAFE_INTEGER || "total stake exceeds 2^53-1"
  )
)
export type Committee = typeof Committee.Type

/** BCS layout of `Authority`. */
export const AuthorityBcs = struct("Authority", {
  stake: u64,
  protocolKey: fixedBytes(32, "protocolKey"),
  networkKey: fixedBytes(32, "networkKey"),
  authorityKey: fixedBytes(48, "authorityKey"),
  authorityKeyProof: fixedBytes(96, "authorityKeyProof"),
  address: boundedString(MAX_ADDRESS_BYTES, "address"),
  hostname: boundedString(MAX_HOSTNAME_BYTES, "hostname")
})

/** Smallest encoded Authority: stake + two Ed25519 keys + BLS key and proof + two empty strings. */
const AUTHORITY_MIN_BYTES = 8 + 32 * 2 + 48 + 96 + 2

/** BCS layout of `Committee`. */
export const CommitteeBcs = struct("Committee", {
  epoch: u64,
  authorities: boundedVector(AuthorityBcs, MAX_COMMITTEE_SIZE, AUTHORITY_MIN_BYTES)
})

/** Canonical bytes of a committee. */
export const encodeCommittee = (committee: Committee): Uint8Array => encodeBcs(CommitteeBcs, committee)

/** Decodes untrusted committee bytes (structure only; `Schema.validate(Committee)` checks the rest). */
export const decodeCommittee = (bytes: Uint8Array) => decodeBcs(CommitteeBcs, bytes)

/** Digest of a committee: what an `EndOfEpochData` signature is over. */
export const committeeDigest = (committee: Committee): Uint8Array => blake2b256(encodeCommittee(committee))

/**
 * What an authority's proof of possession signs: `intent(ProofOfPossession) || authorityKey ||
 * networkKey`. Signing its own key proves the key's owner knows its secret (so no member can pick a
 * "rogue" key that cancels others' in an aggregate); the network key binds the proof to the member.
 */
export const proofOfPossessionMessage = (authorityKey: Uint8Array, networkKey: Uint8Array): Uint8Array =>
  intentMessage(IntentScope.ProofOfPossession, authorityKey, networkKey)

/** Sum of all stakes. */
export const totalStake = (committee: Committee): number => committee.authorities.reduce((sum, a) => sum + a.stake, 0)

/** Stake needed for a quorum: more than two thirds of the actual total, ⌊2·total/3⌋ + 1. */
export const quorumThreshold = (committee: Committee): number => Math.floor((2 * totalStake(committee)) / 3) + 1

/** Stake needed for validity (at least one honest member when f < n/3): ⌊total/3⌋ + 1. */
export const validityThreshold = (committee: Committee): number => Math.floor(totalStake(committee) / 3) + 1

/** The authority at an index, if the index is in the committee. */
export const authorityAt = (committee: Committee, index: number): Authority | undefined =>
  Number.isInteger(index) && index >= 0 ? committee.authorities[index] : undefined

/**
 * Stake of a set of authors: each index counted once, unknown indices ignored — a repeated or
 * out-of-range author can never inflate a certificate.
 */
export const stakeOf = (committee: Committee, authors: Iterable<number>): number => {
  const seen = new Set<number>()
  let stake = 0
  for (const index of authors) {
    if (seen.has(index)) continue
    seen.add(index)
    const authority = authorityAt(committee, index)
    if (authority !== undefined) stake += authority.stake
  }
  return stake
}

/** Whether the distinct known authors carry a quorum. */
export const reachesQuorum = (committee: Committee, authors: Iterable<number>): boolean =>
  stakeOf(committee, authors) >= quorumThreshold(committee)

/** Whether the distinct known authors carry validity stake. */
export const reachesValidity = (committee: Committee, authors: Iterable<number>): boolean =>
  stakeOf(committee, authors) >= validityThreshold(committee)

/**
 * Accumulates votes one author at a time (as certificates and commit votes arrive), with the same
 * rules as `stakeOf`. Immutable: `add` returns a new aggregator.
 */
export interface StakeAggregator {
  readonly authors: ReadonlySet<number>
  readonly stake: number
}

/** An empty aggregator. */
export const emptyStake: StakeAggregator = { authors: new Set(), stake: 0 }

/** Adds an author's vote; duplicates and unknown indices leave the aggregator unchanged. */
export const addVote = (committee: Committee, aggregator: StakeAggregator, author: number): StakeAggregator => {
  const authority = authorityAt(committee, author)
  if (authority === undefined || aggregator.authors.has(author)) return aggregator
  const authors = new Set(aggregator.authors)
  authors.add(author)
  return { authors, stake: aggregator.stake + authority.stake }
}
