/**
 * `VerifierLayer`: the `Verifier` service on top of `Crypto`. Each call decodes and checks structure
 * first (cheap, fails fast: ancestors, bitmaps, stake), then verifies the signatures it needs — block
 * signatures and transaction senders in one Ed25519 batch, certificates, epoch changes and proofs of
 * possession in one BLS batch, both at once on the worker pool — and maps each failed signature back
 * to its owner. Blocks are hashed once (the caller's digest is used when given) and signed bytes are
 * never re-encoded: the signing message comes from the bytes the block arrived in.
 */
import { Effect, Either, Layer, Schema } from "effect"
import {
  blockRefOf,
  blockSigningMessageOfBytes,
  decodeSignedBlock,
  epochChangeSigningMessage,
  markVerifiedBlock,
  type SignedBlock,
  type VerifiedBlock
} from "../../domain/block.js"
import { bytesEqual } from "../../domain/bytes.js"
import { decodeCommit, markVerifiedCommit, type VerifiedCommit } from "../../domain/commit.js"
import { authorityAt, Committee, committeeDigest, quorumThreshold, stakeOf, type Authority } from "../../domain/committee.js"
import { genesisBlockRefs } from "../../domain/genesis.js"
import { decodeBcs } from "../../domain/codec.js"
import { BlockRefBcs, type BlockRef } from "../../domain/refs.js"
import type { VerifiedTransaction } from "../../domain/transaction.js"
import { rememberVerifiedTransactions } from "../../domain/verifiedTransactions.js"
import { Crypto, type AggregateItem, type VerifyItem } from "../../services/Crypto.js"
import {
  BlockInvalid,
  CommitRangeInvalid,
  CommitteeInvalid,
  Verifier,
  type BlockToVerify,
  type CommitRangeToVerify,
  type VerifierService
} from "../../services/Verifier.js"
import { blockStructureViolation } from "./blockRules.js"
import { blsKeySetOf, proofOfPossessionItems } from "./committeeKeys.js"
import { prepareTransaction } from "./transactionRules.js"

const sameRef = (a: BlockRef, b: BlockRef): boolean =>
  a.round === b.round && a.author === b.author && a.epoch === b.epoch && bytesEqual(a.digest, b.digest)

/** Genesis refs are a pure function of the committee; computed once per committee object. */
const genesisCache = new WeakMap<Committee, ReadonlyArray<BlockRef>>()
const genesisOf = (committee: Committee): ReadonlyArray<BlockRef> => {
  let refs = genesisCache.get(committee)
  if (refs === undefined) {
    refs = genesisBlockRefs(committee)
    genesisCache.set(committee, refs)
  }
  return refs
}

/** A decoded block that passed the structural rules, waiting for its signatures. */
interface Candidate {
  readonly index: number
  readonly signed: SignedBlock
  readonly bytes: Uint8Array
  readonly ref: BlockRef
}

/** Signatures to check for a set of blocks, each tagged with the block (by input index) it condemns. */
interface Batch {
  readonly ed: Array<VerifyItem>
  readonly edOwners: Array<{ readonly owner: number; readonly onFailure: () => BlockInvalid }>
  readonly bls: Array<AggregateItem>
  readonly blsOwners: Array<{ readonly owner: number; readonly onFailure: () => BlockInvalid }>
}

const emptyBatch = (): Batch => ({ ed: [], edOwners: [], bls: [], blsOwners: [] })

const make = Effect.gen(function* () {
  const crypto = yield* Crypto

  /** Runs both batches side by side; returns the first failure per owner. */
  const runBatch = (batch: Batch): Effect.Effect<Map<number, BlockInvalid>> =>
    Effect.map(
      Effect.all([crypto.verifyMany(batch.ed), crypto.verifyAggregates(batch.bls)], { concurrency: 2 }),
      ([edVerdicts, blsVerdicts]) => {
        const failures = new Map<number, BlockInvalid>()
        edVerdicts.forEach((ok, k) => {
          const { owner, onFailure } = batch.edOwners[k]!
          if (!ok && !failures.has(owner)) failures.set(owner, onFailure())
        })
        blsVerdicts.forEach((ok, k) => {
          const { owner, onFailure } = batch.blsOwners[k]!
          if (!ok && !failures.has(owner)) failures.set(owner, onFailure())
        })
        return failures
      }
    )

  /** Decode, ref and structure: everything about a block that needs no signature. */
  const examine = (committee: Committee, input: BlockToVerify, index: number): Either.Either<Candidate, BlockInvalid> => {
    const decoded = decodeSignedBlock(input.bytes)
    if (Either.isLeft(decoded)) return Either.left(new BlockInvalid({ fault: "Undecodable", detail: decoded.left.message }))
    const signed = decoded.right
    const block = signed.block
    const ref = blockRefOf(block, input.bytes, input.digest)
    // Checked first: a block that is not the one asked for is useless whatever its signatures.
    if (input.expected !== undefined && !sameRef(ref, input.expected))
      return Either.left(
        new BlockInvalid({ fault: "RefMismatch", detail: `got ${ref.round}/${ref.author}, asked for ${input.expected.round}/${input.expected.author}` })
      )
    const broken = blockStructureViolation(committee, genesisOf(committee), block)
    if (broken !== null) return Either.left(new BlockInvalid(broken))
    return Either.right({ index, signed, bytes: input.bytes, ref })
  }

  /** Adds a candidate's own signature (by its author's protocol key, over the bytes it came in). */
  const addBlockSignature = (committee: Committee, batch: Batch, c: Candidate): void => {
    const author = authorityAt(committee, c.signed.block.author) as Authority
    batch.ed.push({ publicKey: author.protocolKey, message: blockSigningMessageOfBytes(c.bytes), signature: c.signed.signature })
    batch.edOwners.push({
      owner: c.index,
      onFailure: () => new BlockInvalid({ fault: "BadSignature", detail: `not signed by author ${c.signed.block.author}'s protocol key` })
    })
  }

  /**
   * Adds what a candidate carries (transactions, epoch change) to the batch; gives its verified
   * transactions, or the rule one of them breaks.
   */
  const addContents = (committee: Committee, batch: Batch, c: Candidate): Either.Either<ReadonlyArray<VerifiedTransaction>, BlockInvalid> => {
    const block = c.signed.block
    const verified: Array<VerifiedTransaction> = []
    const ed: Array<VerifyItem> = []
    const bls: Array<AggregateItem> = []
    const edFaults: Array<number> = []
    const blsFaults: Array<number> = []
    for (let t = 0; t < block.transactions.length; t++) {
      const prepared = prepareTransaction(committee, block.transactions[t]!)
      if (Either.isLeft(prepared))
        return Either.left(
          new BlockInvalid({ fault: "InvalidTransaction", detail: `transaction ${t}: ${prepared.left.detail}`, transaction: { index: t, fault: prepared.left.fault } })
        )
      ed.push(prepared.right.sender)
      edFaults.push(t)
      bls.push(prepared.right.certificate)
      blsFaults.push(t)
      verified.push(prepared.right.verified)
    }
    ed.forEach((item, k) => {
      const t = edFaults[k]!
      batch.ed.push(item)
      batch.edOwners.push({
        owner: c.index,
        onFailure: () => new BlockInvalid({ fault: "InvalidTransaction", detail: `transaction ${t}: BadSenderSignature`, transaction: { index: t, fault: "BadSenderSignature" } })
      })
    })
    bls.forEach((item, k) => {
      const t = blsFaults[k]!
      batch.bls.push(item)
      batch.blsOwners.push({
        owner: c.index,
        onFailure: () =>
          new BlockInvalid({ fault: "InvalidTransaction", detail: `transaction ${t}: BadAuthoritySignature`, transaction: { index: t, fault: "BadAuthoritySignature" } })
      })
    })
    const eoe = block.endOfEpoch
    if (eoe !== null) {
      batch.bls.push({
        keySet: blsKeySetOf(committee),
        signers: eoe.signers,
        message: epochChangeSigningMessage(committeeDigest(eoe.nextCommittee)),
        signature: eoe.aggregateSignature
      })
      batch.blsOwners.push({ owner: c.index, onFailure: () => new BlockInvalid({ fault: "InvalidEndOfEpoch", detail: "the epoch-change aggregate signature does not verify" }) })
      // The next committee is accepted here, once: its keys must prove possession (no rogue keys).
      proofOfPossessionItems(eoe.nextCommittee).forEach((item, member) => {
        batch.bls.push(item)
        batch.blsOwners.push({
          owner: c.index,
          onFailure: () => new BlockInvalid({ fault: "InvalidEndOfEpoch", detail: `next committee member ${member} has no valid proof of possession` })
        })
      })
    }
    return Either.right(verified)
  }

  const verifyBlocks: VerifierService["verifyBlocks"] = (committee, blocks, options) =>
    Effect.gen(function* () {
      const results: Array<Either.Either<VerifiedBlock, BlockInvalid> | undefined> = blocks.map(() => undefined)
      let candidates: Array<Candidate> = []
      blocks.forEach((input, i) => {
        const examined = examine(committee, input, i)
        if (Either.isLeft(examined)) results[i] = Either.left(examined.left)
        else candidates.push(examined.right)
      })

      const batch = emptyBatch()
      for (const c of candidates) addBlockSignature(committee, batch, c)
      if (options?.signaturesFirst === true) {
        // A block whose own signature fails costs one check, not one per transaction.
        const failures = yield* runBatch(batch)
        for (const [owner, error] of failures) results[owner] = Either.left(error)
        candidates = candidates.filter((c) => !failures.has(c.index))
        batch.ed.length = 0
        batch.edOwners.length = 0
      }
      const transactions = new Map<number, ReadonlyArray<VerifiedTransaction>>()
      for (const c of candidates) {
        const contents = addContents(committee, batch, c)
        if (Either.isLeft(contents)) results[c.index] = Either.left(contents.left)
        else transactions.set(c.index, contents.right)
      }
      const failures = yield* runBatch(batch)
      for (const c of candidates) {
        if (results[c.index] !== undefined) continue
        const failure = failures.get(c.index)
        if (failure !== undefined) {
          results[c.index] = Either.left(failure)
          continue
        }
        const verified = markVerifiedBlock(c.signed, c.bytes, c.ref)
        rememberVerifiedTransactions(verified, transactions.get(c.index) ?? [])
        results[c.index] = Either.right(verified)
      }
      return results as ReadonlyArray<Either.Either<VerifiedBlock, BlockInvalid>>
    })

  const verifyBlock: VerifierService["verifyBlock"] = (committee, block) =>
    Effect.flatMap(verifyBlocks(committee, [block]), (results) => results[0] as Either.Either<VerifiedBlock, BlockInvalid>)

  const invalidRange = (fault: CommitRangeInvalid["fault"], detail: string) => Effect.fail(new CommitRangeInvalid({ fault, detail }))

  const checkCommitRange: VerifierService["checkCommitRange"] = (committee, range: CommitRangeToVerify) =>
    Effect.gen(function* () {
      if (range.commits.length === 0) return yield* invalidRange("Empty", "no commit in the response")
      if (range.commits.length > range.maxCommits) return yield* invalidRange("TooLong", `${range.commits.length} commits, asked for at most ${range.maxCommits}`)
      const n = committee.authorities.length
      if (range.certifierRefs.length > n) return yield* invalidRange("BadCertifierRefs", `${range.certifierRefs.length} certifier refs for a committee of ${n}`)
      const commits: Array<VerifiedCommit> = []
      for (const bytes of range.commits) {
        const decoded = decodeCommit(bytes)
        if (Either.isLeft(decoded)) return yield* invalidRange("Undecodable", decoded.left.message)
        const commit = markVerifiedCommit(decoded.right, bytes)
        const previous = commits[commits.length - 1]
        const c = commit.commit
        if (previous === undefined) {
          if (c.index !== range.start) return yield* invalidRange("UnexpectedStart", `starts at ${c.index}, asked for ${range.start}`)
          if (range.previousDigest !== undefined && !bytesEqual(c.previousDigest, range.previousDigest))
            return yield* invalidRange("NotLinked", `commit ${c.index} does not link to the commit before the range`)
        } else {
          if (c.index !== previous.commit.index + 1) return yield* invalidRange("NotConsecutive", `${c.index} after ${previous.commit.index}`)
          if (!bytesEqual(c.previousDigest, previous.ref.digest)) return yield* invalidRange("BrokenHashChain", `commit ${c.index} does not link to ${previous.commit.index}`)
        }
        if (c.epoch !== committee.epoch) return yield* invalidRange("WrongEpoch", `commit ${c.index} of epoch ${c.epoch}, committee of epoch ${committee.epoch}`)
        commits.push(commit)
      }
      // The certifier refs: one per author, of this epoch's committee, above genesis; quorum stake.
      const refs: Array<BlockRef> = []
      const authors = new Set<number>()
      for (const bytes of range.certifierRefs) {
        const decoded = decodeBcs(BlockRefBcs, bytes)
        if (Either.isLeft(decoded)) return yield* invalidRange("BadCertifierRefs", decoded.left.message)
        const ref = decoded.right
        if (ref.epoch !== committee.epoch || ref.round === 0 || authorityAt(committee, ref.author) === undefined)
          return yield* invalidRange("BadCertifierRefs", `certifier ${ref.round}/${ref.author} of epoch ${ref.epoch} cannot vote in epoch ${committee.epoch}`)
        if (authors.has(ref.author)) return yield* invalidRange("BadCertifierRefs", `author ${ref.author} named twice`)
        authors.add(ref.author)
        refs.push(ref)
      }
      const last = commits[commits.length - 1]!
      if (stakeOf(committee, authors) < quorumThreshold(committee))
        return yield* invalidRange("NotEnoughVotes", `certifiers named for commit ${last.ref.index} lack quorum stake`)
      // Fetch only a minimal quorum: largest stake first, ties by author index.
      const byStake = [...refs].sort((a, b) => committee.authorities[b.author]!.stake - committee.authorities[a.author]!.stake || a.author - b.author)
      const certifiers: Array<BlockRef> = []
      let stake = 0
      for (const ref of byStake) {
        if (stake >= quorumThreshold(committee)) break
        certifiers.push(ref)
        stake += committee.authorities[ref.author]!.stake
      }
      return { commits, certifiers }
    })

  const verifyCertifiers: VerifierService["verifyCertifiers"] = (committee, last, asked, blocks) =>
    Effect.gen(function* () {
      const askedByDigest = new Map(asked.map((r) => [Buffer.from(r.digest).toString("hex"), r] as const))
      const served = new Set<string>()
      const inputs: Array<BlockToVerify> = []
      for (const b of blocks) {
        const key = Buffer.from(b.digest ?? new Uint8Array()).toString("hex")
        const expected = b.expected ?? askedByDigest.get(key)
        if (expected === undefined || served.has(Buffer.from(expected.digest).toString("hex")))
          return yield* invalidRange("InvalidCertifierBlock", "a certifier block that was not asked for, or served twice")
        served.add(Buffer.from(expected.digest).toString("hex"))
        inputs.push({ ...b, expected })
      }
      if (served.size < asked.length) return yield* invalidRange("MissingCertifier", `${asked.length - served.size} of ${asked.length} certifier blocks not served`)
      // Votes are checked on the decoded blocks before any signature: a block that does not vote is useless.
      for (const input of inputs) {
        const decoded = decodeSignedBlock(input.bytes)
        if (Either.isLeft(decoded)) return yield* invalidRange("InvalidCertifierBlock", decoded.left.message)
        const votes = decoded.right.block.commitVotes
        if (!votes.some((v) => v.index === last.index && bytesEqual(v.digest, last.digest)))
          return yield* invalidRange("InvalidCertifierBlock", `block ${decoded.right.block.round}/${decoded.right.block.author} does not vote for commit ${last.index}`)
      }
      const results = yield* verifyBlocks(committee, inputs, { signaturesFirst: true })
      const verified: Array<VerifiedBlock> = []
      for (const result of results) {
        if (Either.isLeft(result)) return yield* invalidRange("InvalidCertifierBlock", result.left.message)
        verified.push(result.right)
      }
      if (stakeOf(committee, verified.map((b) => b.signed.block.author)) < quorumThreshold(committee))
        return yield* invalidRange("NotEnoughVotes", `votes for commit ${last.index} lack quorum stake`)
      return verified
    })

  const verifyCommittee: VerifierService["verifyCommittee"] = (committee) =>
    Effect.gen(function* () {
      if (!Schema.is(Committee)(committee)) return yield* Effect.fail(new CommitteeInvalid({ fault: "Malformed", detail: "empty, zero stake, too large, or stake over 2^53" }))
      const verdicts = yield* crypto.verifyAggregates(proofOfPossessionItems(committee))
      const bad = verdicts.flatMap((ok, i) => (ok ? [] : [i]))
      if (bad.length > 0)
        return yield* Effect.fail(
          new CommitteeInvalid({ fault: "BadProofOfPossession", detail: `authorities ${bad.join(", ")} of epoch ${committee.epoch} have no valid proof of possession`, authorities: bad })
        )
    })

  return Verifier.of({ verifyBlocks, verifyBlock, checkCommitRange, verifyCertifiers, verifyCommittee })
})

/** The verifier, on whichever `Crypto` layer is provided. */
export const VerifierLayer: Layer.Layer<Verifier, never, Crypto> = Layer.effect(Verifier, make)
