/**
 * Deterministic chain generator: from a seed, a committee of N validators with deterministic keys and a
 * valid, Mysticeti-shaped chain — used by tests, the devnet and benchmarks.
 *
 * Every round each authority signs a block over the previous round's blocks (its own previous block
 * first; all parents, or a random subset with quorum stake). One leader per round; the commit of round
 * r commits the leader's not-yet-committed causal history, sorted by (round, author), and links to the
 * previous commit by digest. The blocks of round r+1 carry a commit vote for it, so they are its
 * certifier blocks. Each block carries certified transactions (sender signature + a BLS aggregate by a
 * random quorum of authorities). Every `commitsPerEpoch` commits the leader block carries
 * `EndOfEpochData` for the next committee (rotated protocol/authority keys and stakes, stable network
 * keys), certified by a quorum.
 *
 * A certificate costs ONE BLS signing whatever the number of signers (`aggregateSign`: the aggregate
 * equals a signature by the sum of the signers' secret keys), so 100-validator chains are generated at
 * ≈ 0.4 ms per transaction; `chainCache.ts` keeps generated chains on disk for reuse.
 *
 * It is a synchronous generator: commits are produced one at a time and only a few rounds of blocks
 * are kept, so 100k blocks never sit in memory together.
 */
import { blockRefOf, epochChangeSigningMessage, markVerifiedBlock, signBlockBytes, type Block, type EndOfEpochData, type VerifiedBlock } from "../domain/block.js"
import { committedSubDag, encodeCommit, markVerifiedCommit, type Commit, type CommittedSubDag } from "../domain/commit.js"
import { signersBitmap } from "../domain/certificate.js"
import { committeeDigest, proofOfPossessionMessage, quorumThreshold, type Authority, type Committee } from "../domain/committee.js"
import { genesisBlockRefs } from "../domain/genesis.js"
import { ZERO_DIGEST } from "../domain/primitives.js"
import { blockRefKey, type BlockRef } from "../domain/refs.js"
import {
  certificateSigningMessage,
  encodeCertifiedTransaction,
  senderSigningMessage,
  transactionDigest,
  type CertifiedTransaction,
  type TransactionData
} from "../domain/transaction.js"
import { aggregateSign, BlsTestSigner, deriveSeed, TestSigner } from "./keys.js"
import { SeededRandom } from "./rng.js"

/** What to generate. */
export interface ChainConfig {
  readonly seed: number
  readonly validators: number
  /** An epoch change every this many commits. */
  readonly commitsPerEpoch: number
  readonly transactionsPerBlock: number
  /** User accounts that send transactions (default 16). */
  readonly accounts?: number
  /** Equal stakes (default) or unequal stakes that rotate every epoch. */
  readonly equalStake?: boolean
  /** `all` previous-round blocks as parents (default), or a random subset with quorum stake. */
  readonly parents?: "all" | "quorum"
  readonly genesisTimestampMs?: number
  readonly roundIntervalMs?: number
  /** The address each validator advertises in the committee (default `validator-i`). */
  readonly validatorAddress?: (index: number) => string
}

/** One commit with everything needed to serve and verify it. */
export interface GeneratedCommit {
  readonly subDag: CommittedSubDag
  /** Blocks of the next round, each carrying a vote for this commit (quorum stake). */
  readonly certifierBlocks: ReadonlyArray<VerifiedBlock>
  /** The committee of the commit's epoch. */
  readonly committee: Committee
  /** Whether this commit closes its epoch (its leader carries `EndOfEpochData`). */
  readonly lastOfEpoch: boolean
}

/** Starting balance of every generated account (the executor's genesis state). */
export const GENESIS_ACCOUNT_BALANCE = 1_000_000_000

const DEFAULT_ACCOUNTS = 16
const DEFAULT_ROUND_INTERVAL_MS = 100
const DEFAULT_GENESIS_TIMESTAMP_MS = 1_700_000_000_000
/** Share of transactions that write the shared object (the rest are transfers). */
const SHARED_WRITE_SHARE = 0.2
/** Distinct keys of the shared object, so that writes collide and versions matter. */
const SHARED_KEYS = 16

/** The deterministic chain of a config. Create one per consumer; `commits()` restarts from genesis. */
export class ChainGenerator {
  private readonly signers = new Map<string, TestSigner>()
  private readonly blsSigners = new Map<string, BlsTestSigner>()
  /** Committees by epoch: building one signs a proof of possession per member. */
  private readonly committees = new Map<number, Committee>()

  constructor(readonly config: ChainConfig) {
    if (!Number.isInteger(config.validators) || config.validators < 1) throw new RangeError("validators must be ≥ 1")
    if (!Number.isInteger(config.commitsPerEpoch) || config.commitsPerEpoch < 1) throw new RangeError("commitsPerEpoch must be ≥ 1")
  }

  private signer(label: string, ...parts: ReadonlyArray<number>): TestSigner {
    const key = `${label}/${parts.join("/")}`
    let signer = this.signers.get(key)
    if (signer === undefined) {
      signer = new TestSigner(deriveSeed(label, this.config.seed, ...parts))
      this.signers.set(key, signer)
    }
    return signer
  }

  /** Validator `index`'s network key (its PeerId); stable across epochs so nodes keep their identity. */
  networkSigner(index: number): TestSigner {
    return this.signer("network", index)
  }

  /** Validator `index`'s protocol key (signs blocks) in `epoch`. */
  protocolSigner(epoch: number, index: number): TestSigner {
    return this.signer("protocol", epoch, index)
  }

  /** Validator `index`'s BLS authority key (signs certificates and epoch changes) in `epoch`. */
  authoritySigner(epoch: number, index: number): BlsTestSigner {
    const key = `${epoch}/${index}`
    let signer = this.blsSigners.get(key)
    if (signer === undefined) {
      signer = new BlsTestSigner(deriveSeed("authority", this.config.seed, epoch, index))
      this.blsSigners.set(key, signer)
    }
    return signer
  }

  /** The aggregate signature of `signers` of `committee` over `message`, and their bitmap. */
  certify(committee: Committee, signers: ReadonlyArray<number>, message: Uint8Array): { signers: Uint8Array; aggregateSignature: Uint8Array } {
    return {
      signers: signersBitmap(signers, committee.authorities.length),
      aggregateSignature: aggregateSign(signers.map((i) => this.authoritySigner(committee.epoch, i)), message)
    }
  }

  /** The key of user account `index`. */
  accountSigner(index: number): TestSigner {
    return this.signer("account", index)
  }

  /** Number of user accounts. */
  get accountCount(): number {
    return this.config.accounts ?? DEFAULT_ACCOUNTS
  }

  /** The committee of an epoch. Stakes rotate per epoch unless they are equal. */
  committee(epoch: number): Committee {
    const cached = this.committees.get(epoch)
    if (cached !== undefined) return cached
    const n = this.config.validators
    const authorities: Array<Authority> = []
    for (let i = 0; i < n; i++) {
      const authority = this.authoritySigner(epoch, i)
      const networkKey = this.networkSigner(i).publicKey
      authorities.push({
        stake: this.config.equalStake === false ? 1 + ((i + epoch) % n) : 1,
        protocolKey: this.protocolSigner(epoch, i).publicKey,
        networkKey,
        authorityKey: authority.publicKey,
        authorityKeyProof: authority.sign(proofOfPossessionMessage(authority.publicKey, networkKey)),
        address: this.config.validatorAddress?.(i) ?? `validator-${i}`,
        hostname: `validator-${i}`
      })
    }
    const committee = { epoch, authorities }
    this.committees.set(epoch, committee)
    return committee
  }

  /** A random subset of authorities (in random order) whose stake reaches quorum. */
  quorumSubset(committee: Committee, rng: SeededRandom, mustInclude?: number): Array<number> {
    const threshold = quorumThreshold(committee)
    const order = rng.shuffle(committee.authorities.map((_, i) => i))
    const chosen: Array<number> = mustInclude === undefined ? [] : [mustInclude]
    let stake = mustInclude === undefined ? 0 : (committee.authorities[mustInclude] as Authority).stake
    for (const i of order) {
      if (stake >= threshold) break
      if (i === mustInclude) continue
      chosen.push(i)
      stake += (committee.authorities[i] as Authority).stake
    }
    return chosen
  }

  /** Signs a block with its author's protocol key. */
  signBlock(block: Block): VerifiedBlock {
    const signer = this.protocolSigner(block.epoch, block.author)
    const { signed, bytes } = signBlockBytes(block, (message) => signer.sign(message))
    return markVerifiedBlock(signed, bytes, blockRefOf(block, bytes))
  }

  /** A transaction from `account`, certified by the given authorities of the committee's epoch. */
  certifiedTransaction(committee: Committee, data: TransactionData, signers: ReadonlyArray<number>): CertifiedTransaction {
    const digest = transactionDigest(data)
    const senderSignature = this.accountSigner(this.accountIndexOf(data.sender)).sign(senderSigningMessage(digest))
    const certificate = this.certify(committee, signers, certificateSigningMessage(digest, committee.epoch))
    return { signed: { data, senderSignature }, epoch: committee.epoch, ...certificate }
  }

  private accountIndexOf(sender: Uint8Array): number {
    for (let a = 0; a < this.accountCount; a++) {
      const key = this.accountSigner(a).publicKey
      if (key.every((byte, i) => byte === sender[i])) return a
    }
    throw new RangeError("sender is not a generated account")
  }

  /** The end-of-epoch data that hands `committee` over to the next epoch's committee. */
  endOfEpochData(committee: Committee, nextEpochStartMs: number, rng: SeededRandom): EndOfEpochData {
    const nextCommittee = this.committee(committee.epoch + 1)
    const message = epochChangeSigningMessage(committeeDigest(nextCommittee))
    return { nextEpochStartMs, nextCommittee, ...this.certify(committee, this.quorumSubset(committee, rng), message) }
  }

  /** The chain, commit by commit from index 1, for ever (take what you need). */
  *commits(): Generator<GeneratedCommit, never, undefined> {
    const rng = new SeededRandom(this.config.seed)
    const nonces = new Array<number>(this.accountCount).fill(0)
    const interval = this.config.roundIntervalMs ?? DEFAULT_ROUND_INTERVAL_MS
    let now = this.config.genesisTimestampMs ?? DEFAULT_GENESIS_TIMESTAMP_MS
    let commitIndex = 0
    let previousDigest: Uint8Array = ZERO_DIGEST
    let committee = this.committee(0)

    for (;;) {
      const n = committee.authorities.length
      // Blocks of this epoch not yet committed, by digest; the previous round's blocks by author.
      const uncommitted = new Map<string, VerifiedBlock>()
      let previousRound: Array<BlockRef> = [...genesisBlockRefs(committee)]
      let pending: { commit: CommittedSubDag; lastOfEpoch: boolean } | null = null
      let commitsInEpoch = 0
      let nextCommittee: Committee | null = null

      for (let round = 1; ; round++) {
        now += interval
        const leader = (round + committee.epoch) % n
        const closesEpoch = pending === null || !pending.lastOfEpoch ? commitsInEpoch + 1 === this.config.commitsPerEpoch : false
        const votes = pending === null ? [] : [pending.commit.commitRef]
        const blocks: Array<VerifiedBlock> = []
        for (let author = 0; author < n; author++) {
          const own = previousRound[author] as BlockRef
          const others = previousRound.filter((_, i) => i !== author)
          const parents =
            this.config.parents === "quorum"
              ? this.quorumSubset(committee, rng, author).filter((i) => i !== author).map((i) => previousRound[i] as BlockRef)
              : others
          const transactions: Array<Uint8Array> = []
          for (let t = 0; t < this.config.transactionsPerBlock; t++) {
            transactions.push(encodeCertifiedTransaction(this.randomTransaction(committee, rng, nonces)))
          }
          const endOfEpoch = closesEpoch && author === leader && pending?.lastOfEpoch !== true ? this.endOfEpochData(committee, now + interval, rng) : null
          if (endOfEpoch !== null) nextCommittee = endOfEpoch.nextCommittee
          const block: Block = {
            epoch: committee.epoch,
            round,
            author,
            timestampMs: now,
            ancestors: [own, ...parents],
            transactions,
            commitVotes: votes,
            endOfEpoch
          }
          blocks.push(this.signBlock(block))
        }
        for (const b of blocks) uncommitted.set(blockRefKey(b.ref), b)

        if (pending !== null) {
          yield { subDag: pending.commit, certifierBlocks: blocks, committee, lastOfEpoch: pending.lastOfEpoch }
          if (pending.lastOfEpoch) break
        }

        // Commit the leader of this round with its uncommitted causal history.
        const leaderBlock = blocks[leader] as VerifiedBlock
        const history = this.uncommittedHistory(leaderBlock, uncommitted)
        commitIndex += 1
        commitsInEpoch += 1
        const commit: Commit = {
          index: commitIndex,
          previousDigest,
          timestampMs: leaderBlock.signed.block.timestampMs,
          leader: leaderBlock.ref,
          blocks: history.map((b) => b.ref),
          epoch: committee.epoch
        }
        const verifiedCommit = markVerifiedCommit(commit, encodeCommit(commit))
        previousDigest = verifiedCommit.ref.digest
        pending = { commit: committedSubDag(verifiedCommit, history), lastOfEpoch: commitsInEpoch === this.config.commitsPerEpoch }
        previousRound = blocks.map((b) => b.ref)
      }
      committee = nextCommittee ?? this.committee(committee.epoch + 1)
    }
  }

  /** The first `count` commits, materialised (for tests; use `commits()` for long chains). */
  take(count: number): Array<GeneratedCommit> {
    const out: Array<GeneratedCommit> = []
    if (count <= 0) return out
    for (const c of this.commits()) {
      out.push(c)
      if (out.length >= count) break
    }
    return out
  }

  /** The leader's causal history among uncommitted blocks, removed from the set, sorted by (round, author). */
  private uncommittedHistory(leader: VerifiedBlock, uncommitted: Map<string, VerifiedBlock>): Array<VerifiedBlock> {
    const out: Array<VerifiedBlock> = []
    const stack: Array<VerifiedBlock> = [leader]
    uncommitted.delete(blockRefKey(leader.ref))
    while (stack.length > 0) {
      const block = stack.pop() as VerifiedBlock
      out.push(block)
      for (const ancestor of block.signed.block.ancestors) {
        const key = blockRefKey(ancestor)
        const found = uncommitted.get(key)
        if (found !== undefined) {
          uncommitted.delete(key)
          stack.push(found)
        }
      }
    }
    return out.sort((a, b) => a.ref.round - b.ref.round || a.ref.author - b.ref.author)
  }

  private randomTransaction(committee: Committee, rng: SeededRandom, nonces: Array<number>): CertifiedTransaction {
    const from = rng.nextInt(this.accountCount)
    const nonce = nonces[from] as number
    nonces[from] = nonce + 1
    const sender = this.accountSigner(from).publicKey
    const kind: TransactionData["kind"] = rng.chance(SHARED_WRITE_SHARE)
      ? { _tag: "WriteShared", key: `k${rng.nextInt(SHARED_KEYS)}`, value: Uint8Array.of(rng.nextInt(256), rng.nextInt(256), rng.nextInt(256), rng.nextInt(256)) }
      : { _tag: "Transfer", recipient: this.accountSigner(rng.nextInt(this.accountCount)).publicKey, amount: 1 + rng.nextInt(100) }
    return this.certifiedTransaction(committee, { sender, nonce, kind }, this.quorumSubset(committee, rng))
  }
}
