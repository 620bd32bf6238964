/**
 * `VerifierLayer`: the `Verifier` service on top of `Crypto`. Each call decodes and checks structure
 * first (cheap, fails fast), then verifies every signature it needs — blocks, senders, certificates,
 * epoch changes — in a single `verifyMany` batch, and maps each failed signature back to its owner.
 */
import { Effect, Either, Layer } from "effect"
import {
  blockRefOf,
  blockSigningMessage,
  decodeSignedBlock,
  epochChangeSigningMessage,
  markVerifiedBlock,
  type VerifiedBlock
} from "../../domain/block.js"
import { bytesEqual } from "../../domain/bytes.js"
import { decodeCommit, markVerifiedCommit, type VerifiedCommit } from "../../domain/commit.js"
import { authorityAt, committeeDigest, reachesQuorum, type Authority, type Committee } from "../../domain/committee.js"
import { genesisBlockRefs } from "../../domain/genesis.js"
import type { BlockRef } from "../../domain/refs.js"
import { Crypto, type VerifyItem } from "../../services/Crypto.js"
import {
  BlockInvalid,
  CommitRangeInvalid,
  TransactionInvalid,
  Verifier,
  type CommitRangeToVerify,
  type TransactionFault,
  type VerifierService
} from "../../services/Verifier.js"
import { blockStructureViolation } from "./blockRules.js"
import { transactionSignatures } from "./transactionRules.js"

/** Who a signature in the batch belongs to, and what it means if it fails. */
interface Owned {
  readonly owner: number
  readonly onFailure: () => BlockInvalid
}

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

const make = Effect.gen(function* () {
  const crypto = yield* Crypto

  const verifyBlocks: VerifierService["verifyBlocks"] = (committee, blocks) =>
    Effect.gen(function* () {
      // Filled arrays, not `new Array(n)`: `map` skips holes.
      const results: Array<Either.Either<VerifiedBlock, BlockInvalid> | undefined> = blocks.map(() => undefined)
      const candidates: Array<VerifiedBlock | undefined> = blocks.map(() => undefined)
      const items: Array<VerifyItem> = []
      const owners: Array<Owned> = []
      const genesis = genesisOf(committee)

      blocks.forEach((input, i) => {
        const decoded = decodeSignedBlock(input.bytes)
        if (Either.isLeft(decoded)) {
          results[i] = Either.left(new BlockInvalid({ fault: "Undecodable", detail: decoded.left.message }))
          return
        }
        const signed = decoded.right
        const block = signed.block
        const ref = blockRefOf(block, input.bytes)
        // Checked first: a block that is not the one asked for is useless whatever its signatures.
        if (input.expected !== undefined && !sameRef(ref, input.expected)) {
          results[i] = Either.left(new BlockInvalid({ fault: "RefMismatch", detail: `got ${ref.round}/${ref.author}, asked for ${input.expected.round}/${input.expected.author}` }))
          return
        }
        const broken = blockStructureViolation(committee, genesis, block)
        if (broken !== null) {
          results[i] = Either.left(new BlockInvalid(broken))
          return
        }
        const txItems: Array<{ item: VerifyItem; fault: TransactionFault; index: number }> = []
        for (let t = 0; t < block.transactions.length; t++) {
          const prepared = transactionSignatures(committee, block.transactions[t] as Uint8Array)
          if (Either.isLeft(prepared)) {
            results[i] = Either.left(
              new BlockInvalid({ fault: "InvalidTransaction", detail: prepared.left.detail, transaction: { index: t, fault: prepared.left.fault } })
            )
            return
          }
          for (const s of prepared.right) txItems.push({ ...s, index: t })
        }
        const author = authorityAt(committee, block.author) as Authority
        items.push({ publicKey: author.protocolKey, message: blockSigningMessage(block), signature: signed.signature })
        owners.push({ owner: i, onFailure: () => new BlockInvalid({ fault: "BadSignature", detail: `not signed by author ${block.author}'s protocol key` }) })
        for (const tx of txItems) {
          items.push(tx.item)
          owners.push({
            owner: i,
            onFailure: () =>
              new BlockInvalid({ fault: "InvalidTransaction", detail: `transaction ${tx.index}: ${tx.fault}`, transaction: { index: tx.index, fault: tx.fault } })
          })
        }
        if (block.endOfEpoch !== null) {
          const message = epochChangeSigningMessage(committeeDigest(block.endOfEpoch.nextCommittee))
          for (const s of block.endOfEpoch.signatures) {
            items.push({ publicKey: (authorityAt(committee, s.authority) as Authority).authorityKey, message, signature: s.signature })
            owners.push({ owner: i, onFailure: () => new BlockInvalid({ fault: "InvalidEndOfEpoch", detail: `bad epoch-change signature by ${s.authority}` }) })
          }
        }
        candidates[i] = markVerifiedBlock(signed, input.bytes, ref)
      })

      const verdicts = yield* crypto.verifyMany(items)
      verdicts.forEach((ok, k) => {
        if (ok) return
        const { owner, onFailure } = owners[k] as Owned
        if (results[owner] === undefined) results[owner] = Either.left(onFailure())
      })
      return results.map((r, i) => r ?? Either.right(candidates[i] as VerifiedBlock))
    })

  const verifyBlock: VerifierService["verifyBlock"] = (committee, block) =>
    Effect.flatMap(verifyBlocks(committee, [block]), (results) => results[0] as Either.Either<VerifiedBlock, BlockInvalid>)

  const invalidRange = (fault: CommitRangeInvalid["fault"], detail: string) => Effect.fail(new CommitRangeInvalid({ fault, detail }))

  const verifyCommitRange: VerifierService["verifyCommitRange"] = (committee, range: CommitRangeToVerify) =>
    Effect.gen(function* () {
      if (range.commits.length === 0) return yield* invalidRange("Empty", "no commit in the response")
      if (range.commits.length > range.maxCommits) return yield* invalidRange("TooLong", `${range.commits.length} commits, asked for at most ${range.maxCommits}`)
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
      const last = commits[commits.length - 1] as VerifiedCommit
      const certifiers = yield* verifyBlocks(committee, range.certifierBlocks.map((bytes) => ({ bytes })))
      const verified: Array<VerifiedBlock> = []
      for (const result of certifiers) {
        if (Either.isLeft(result)) return yield* invalidRange("InvalidCertifierBlock", result.left.message)
        verified.push(result.right)
      }
      const voters = verified
        .filter((b) => b.signed.block.commitVotes.some((v) => v.index === last.ref.index && bytesEqual(v.digest, last.ref.digest)))
        .map((b) => b.signed.block.author)
      if (!reachesQuorum(committee, voters)) return yield* invalidRange("NotEnoughVotes", `votes for commit ${last.ref.index} lack quorum stake`)
      return { commits, certifierBlocks: verified }
    })

  const verifyTransactions: VerifierService["verifyTransactions"] = (committee, transactions) =>
    Effect.gen(function* () {
      const items: Array<VerifyItem> = []
      const meaning: Array<{ index: number; fault: TransactionFault }> = []
      for (let t = 0; t < transactions.length; t++) {
        const prepared = transactionSignatures(committee, transactions[t] as Uint8Array)
        if (Either.isLeft(prepared)) return yield* Effect.fail(new TransactionInvalid({ index: t, ...prepared.left }))
        for (const s of prepared.right) {
          items.push(s.item)
          meaning.push({ index: t, fault: s.fault })
        }
      }
      const verdicts = yield* crypto.verifyMany(items)
      const failed = verdicts.findIndex((ok) => !ok)
      if (failed >= 0) {
        const { index, fault } = meaning[failed] as { index: number; fault: TransactionFault }
        return yield* Effect.fail(new TransactionInvalid({ index, fault, detail: `transaction ${index}: ${fault}` }))
      }
    })

  return Verifier.of({ verifyBlocks, verifyBlock, verifyCommitRange, verifyTransactions })
})

/** The verifier, on whichever `Crypto` layer is provided. */
export const VerifierLayer: Layer.Layer<Verifier, never, Crypto> = Layer.effect(Verifier, make)
