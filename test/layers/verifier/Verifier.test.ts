import { expect, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import type { VerifiedBlock } from "../../../src/domain/block.js"
import { toHex } from "../../../src/domain/bytes.js"
import { signersOf } from "../../../src/domain/certificate.js"
import { encodeBcs } from "../../../src/domain/codec.js"
import { blake2b256 } from "../../../src/domain/hash.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import { BlockRefBcs } from "../../../src/domain/refs.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import {
  equivocatingBlock,
  resignBlock,
  withBadBlockSignature,
  withBrokenHashChain,
  withMissingVotes,
  withUncertifiedTransaction,
  withUnknownAuthor,
  withWrongAuthor,
  type TransactionFault
} from "../../../src/testkit/faults.js"
import { NodeCryptoLayer } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { VerifierLayer } from "../../../src/layers/verifier/VerifierLayer.js"
import { Verifier, type BlockFault, type CommitRangeFault } from "../../../src/services/Verifier.js"

const generator = new ChainGenerator({ seed: 21, validators: 4, commitsPerEpoch: 6, transactionsPerBlock: 2, equalStake: false })
const chain = generator.take(14) // epochs 0, 1 and the start of 2
const sample = chain[2] as GeneratedCommit
const committee = sample.committee
const block = sample.subDag.blocks[sample.subDag.blocks.length - 1] as VerifiedBlock

const TestLayer = VerifierLayer.pipe(Layer.provide(NodeCryptoLayer))

const blockFault = (b: VerifiedBlock, expected = true) =>
  Effect.gen(function* () {
    const verifier = yield* Verifier
    const result = yield* Effect.either(verifier.verifyBlock(committee, expected ? { bytes: b.bytes, expected: b.ref } : { bytes: b.bytes }))
    return Either.isLeft(result) ? result.left.fault : "valid"
  })

/**
 * The range of commits [from, to] (1-based, inclusive) of the generated chain as a peer would serve it:
 * the commits, the refs of the certifier blocks, and the blocks it serves when asked for them.
 */
const rangeOf = (from: number, to: number) => {
  const commits = chain.slice(from - 1, to)
  const last = commits[commits.length - 1] as GeneratedCommit
  return {
    committee: last.committee,
    range: {
      start: from,
      maxCommits: 100,
      previousDigest: from === 1 ? ZERO_DIGEST : (chain[from - 2] as GeneratedCommit).subDag.commitRef.digest,
      commits: commits.map((c) => c.subDag.commit.bytes),
      certifierRefs: last.certifierBlocks.map((b) => encodeBcs(BlockRefBcs, b.ref))
    },
    served: last.certifierBlocks.map((b) => b.bytes) as ReadonlyArray<Uint8Array>
  }
}

/** Checks a range, then (as sync does) asks the peer for the certifiers and verifies what it serves. */
const rangeFault = (input: ReturnType<typeof rangeOf>) =>
  Effect.gen(function* () {
    const verifier = yield* Verifier
    const checked = yield* Effect.either(verifier.checkCommitRange(input.committee, input.range))
    if (Either.isLeft(checked)) return checked.left.fault
    const asked = new Set(checked.right.certifiers.map((r) => toHex(r.digest)))
    const served = input.served.map((bytes) => ({ bytes, digest: blake2b256(bytes) })).filter((b) => asked.has(toHex(b.digest)))
    const last = checked.right.commits[checked.right.commits.length - 1]!.ref
    const verified = yield* Effect.either(verifier.verifyCertifiers(input.committee, last, checked.right.certifiers, served))
    return Either.isLeft(verified) ? verified.left.fault : "valid"
  })

layer(TestLayer)("Verifier", (it) => {
  it.effect("accepts every block and every epoch's commit ranges of a valid chain across epoch changes", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      for (const c of chain) {
        const results = yield* verifier.verifyBlocks(c.committee, [...c.subDag.blocks, ...c.certifierBlocks].map((b) => ({ bytes: b.bytes, expected: b.ref })))
        expect(results.every(Either.isRight)).toBe(true)
      }
      // Ranges never span an epoch: epoch 0 = commits 1..6, epoch 1 = 7..12.
      expect(yield* rangeFault(rangeOf(1, 6))).toBe("valid")
      expect(yield* rangeFault(rangeOf(7, 12))).toBe("valid")
      expect(yield* rangeFault(rangeOf(8, 10))).toBe("valid")
      expect(chain[6]!.committee.epoch).toBe(1)
    })
  )

  const blockCases: ReadonlyArray<[string, () => VerifiedBlock, BlockFault]> = [
    ["bad block signature", () => withBadBlockSignature(block), "BadSignature"],
    ["wrong author", () => withWrongAuthor(generator, block, committee), "BadSignature"],
    ["unknown author", () => withUnknownAuthor(generator, block, committee), "UnknownAuthor"],
    ["round 0", () => resignBlock(generator, block, (b) => ({ ...b, round: 0 })), "GenesisRound"],
    ["wrong epoch", () => resignBlock(generator, block, (b) => ({ ...b, epoch: b.epoch + 1 })), "WrongEpoch"],
    ["no ancestors", () => resignBlock(generator, block, (b) => ({ ...b, ancestors: [] })), "NoAncestors"],
    ["own parent not first", () => resignBlock(generator, block, (b) => ({ ...b, ancestors: [...b.ancestors.slice(1), b.ancestors[0]!] })), "OwnParentNotFirst"],
    ["an author twice", () => resignBlock(generator, block, (b) => ({ ...b, ancestors: b.ancestors.map((a, i) => (i === 2 ? b.ancestors[1]! : a)) })), "DuplicateAncestorAuthor"],
    ["ancestor at the block's own round", () => resignBlock(generator, block, (b) => ({ ...b, ancestors: b.ancestors.map((a, i) => (i === 1 ? { ...a, round: b.round } : a)) })), "BadAncestor"],
    ["parents below quorum", () => resignBlock(generator, block, (b) => ({ ...b, ancestors: b.ancestors.slice(0, 1) })), "ParentsBelowQuorum"],
    [
      "fake genesis ancestor",
      () => {
        const round1 = chain[0]!.subDag.blocks.find((b) => b.ref.round === 1)!
        return resignBlock(generator, round1, (b) => ({ ...b, ancestors: b.ancestors.map((a, i) => (i === 1 ? { ...a, digest: new Uint8Array(32).fill(7) } : a)) }))
      },
      "FakeGenesisAncestor"
    ],
    ["equivocating block asked for by the original's ref", () => ({ ...equivocatingBlock(generator, block), ref: block.ref }), "RefMismatch"]
  ]
  for (const [name, make, fault] of blockCases) {
    it.effect(`rejects a block: ${name} → ${fault}`, () => Effect.map(blockFault(make()), (got) => expect(got).toBe(fault)))
  }

  it.effect("undecodable bytes are a typed error, not a crash", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      const result = yield* Effect.either(verifier.verifyBlock(committee, { bytes: block.bytes.slice(0, 40) }))
      expect(Either.isLeft(result) && result.left.fault).toBe("Undecodable")
    })
  )

  it.effect("an equivocating block verifies on its own (it is only wrong where another block was asked for)", () =>
    Effect.map(blockFault(equivocatingBlock(generator, block)), (got) => expect(got).toBe("valid"))
  )

  const txFaults: ReadonlyArray<TransactionFault> = [
    "BelowQuorum",
    "WrongBitmapLength",
    "SignerPastCommittee",
    "BadAuthoritySignature",
    "InfinitySignature",
    "BadSenderSignature",
    "WrongEpoch"
  ]
  for (const fault of txFaults) {
    it.effect(`rejects a block with an uncertified transaction (${fault}) and names the transaction`, () =>
      Effect.gen(function* () {
        const verifier = yield* Verifier
        const bad = withUncertifiedTransaction(generator, block, committee, fault)
        const result = yield* Effect.either(verifier.verifyBlock(committee, { bytes: bad.bytes }))
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) {
          expect(result.left.fault).toBe("InvalidTransaction")
          expect(result.left.transaction).toEqual({ index: 0, fault })
        }
      })
    )
  }

  it.effect("one bad block in a batch spoils only itself", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      const blocks = sample.subDag.blocks
      const inputs = blocks.map((b, i) => ({ bytes: i === 1 ? withBadBlockSignature(b).bytes : b.bytes }))
      const results = yield* verifier.verifyBlocks(committee, inputs)
      expect(results.map((r) => (Either.isLeft(r) ? r.left.fault : "ok"))).toEqual(blocks.map((_, i) => (i === 1 ? "BadSignature" : "ok")))
    })
  )

  it.effect("rejects a forged end-of-epoch block (epoch-change signatures by the wrong keys)", () =>
    Effect.gen(function* () {
      const last = chain.find((c) => c.lastOfEpoch)!
      const eoe = last.subDag.blocks.find((b) => b.signed.block.endOfEpoch !== null)!
      // A genuine aggregate by the same signers, over another message.
      const forged = resignBlock(generator, eoe, (b) => ({
        ...b,
        endOfEpoch: { ...b.endOfEpoch!, aggregateSignature: generator.certify(last.committee, signersOf(b.endOfEpoch!.signers), new Uint8Array(3)).aggregateSignature }
      }))
      const verifier = yield* Verifier
      const result = yield* Effect.either(verifier.verifyBlock(last.committee, { bytes: forged.bytes }))
      expect(Either.isLeft(result) && result.left.fault).toBe("InvalidEndOfEpoch")
      const wrongEpoch = resignBlock(generator, eoe, (b) => ({ ...b, endOfEpoch: { ...b.endOfEpoch!, nextCommittee: { ...b.endOfEpoch!.nextCommittee, epoch: 5 } } }))
      const result2 = yield* Effect.either(verifier.verifyBlock(last.committee, { bytes: wrongEpoch.bytes }))
      expect(Either.isLeft(result2) && result2.left.fault).toBe("InvalidEndOfEpoch")
    })
  )

  const rangeCases: ReadonlyArray<[string, () => ReturnType<typeof rangeOf>, CommitRangeFault]> = [
    ["empty", () => ({ ...rangeOf(1, 3), range: { ...rangeOf(1, 3).range, commits: [] } }), "Empty"],
    ["longer than asked", () => ({ ...rangeOf(1, 3), range: { ...rangeOf(1, 3).range, maxCommits: 2 } }), "TooLong"],
    ["wrong start", () => ({ ...rangeOf(2, 4), range: { ...rangeOf(2, 4).range, start: 3 } }), "UnexpectedStart"],
    ["not linked to what we have", () => ({ ...rangeOf(2, 4), range: { ...rangeOf(2, 4).range, previousDigest: new Uint8Array(32).fill(1) } }), "NotLinked"],
    [
      "not consecutive",
      () => {
        const r = rangeOf(1, 4)
        return { ...r, range: { ...r.range, commits: [r.range.commits[0]!, r.range.commits[2]!, r.range.commits[3]!] } }
      },
      "NotConsecutive"
    ],
    [
      "broken hash chain",
      () => {
        const r = rangeOf(1, 4)
        return { ...r, range: { ...r.range, commits: withBrokenHashChain(chain.slice(0, 4).map((c) => c.subDag.commit.commit), 2) } }
      },
      "BrokenHashChain"
    ],
    ["spans an epoch boundary", () => ({ ...rangeOf(5, 8), committee: chain[4]!.committee }), "WrongEpoch"],
    [
      "certifiers named below quorum",
      () => {
        const r = rangeOf(1, 3)
        return { ...r, range: { ...r.range, certifierRefs: withMissingVotes(chain[2]!.certifierBlocks, r.committee).map((b) => encodeBcs(BlockRefBcs, b.ref)) } }
      },
      "NotEnoughVotes"
    ],
    [
      "a certifier author named twice",
      () => {
        const r = rangeOf(1, 3)
        return { ...r, range: { ...r.range, certifierRefs: [...r.range.certifierRefs, r.range.certifierRefs[0]!] } }
      },
      "BadCertifierRefs"
    ],
    [
      "more certifier refs than members",
      () => {
        const r = rangeOf(1, 3)
        return { ...r, range: { ...r.range, certifierRefs: [...r.range.certifierRefs, ...r.range.certifierRefs] } }
      },
      "BadCertifierRefs"
    ],
    [
      "certifiers that vote for another commit",
      () => {
        const r = rangeOf(1, 3)
        return { ...r, range: { ...r.range, certifierRefs: chain[3]!.certifierBlocks.map((b) => encodeBcs(BlockRefBcs, b.ref)) }, served: chain[3]!.certifierBlocks.map((b) => b.bytes) }
      },
      "InvalidCertifierBlock"
    ],
    [
      "a named certifier not served",
      () => ({ ...rangeOf(1, 3), served: [] }),
      "MissingCertifier"
    ],
    [
      "a forged certifier block (its own ref)",
      () => {
        const r = rangeOf(1, 3)
        const forged = chain[2]!.certifierBlocks.map((b) => withBadBlockSignature(b))
        return { ...r, range: { ...r.range, certifierRefs: forged.map((b) => encodeBcs(BlockRefBcs, b.ref)) }, served: forged.map((b) => b.bytes) }
      },
      "InvalidCertifierBlock"
    ],
    ["undecodable commit", () => ({ ...rangeOf(1, 2), range: { ...rangeOf(1, 2).range, commits: [new Uint8Array(5)] } }), "Undecodable"]
  ]
  for (const [name, make, fault] of rangeCases) {
    it.effect(`rejects a commit range: ${name} → ${fault}`, () => Effect.map(rangeFault(make()), (got) => expect(got).toBe(fault)))
  }
})
