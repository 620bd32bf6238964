import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { bytesEqual } from "../../../src/domain/bytes.js"
import { decodeCommit } from "../../../src/domain/commit.js"
import { reachesQuorum } from "../../../src/domain/committee.js"
import { nodeInfoSigningMessage, type NodeInfo } from "../../../src/domain/nodeInfo.js"
import { peerIdFromPublicKey } from "../../../src/domain/PeerId.js"
import { ChainGenerator } from "../../../src/domain/testkit/chain.js"
import {
  equivocatingBlock,
  nodeInfoSignedByWrongKey,
  signNodeInfo,
  withBadBlockSignature,
  withBrokenHashChain,
  withMissingVotes,
  withUncertifiedTransaction,
  withUnknownAuthor,
  withWrongAuthor,
  type TransactionFault
} from "../../../src/domain/testkit/faults.js"
import { NodeCryptoLayer } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { blockProblems, commitDigestOf } from "./chainChecks.js"

const generator = new ChainGenerator({ seed: 11, validators: 4, commitsPerEpoch: 10, transactionsPerBlock: 2 })
const commits = generator.take(4)
const sample = commits[1]!
const block = sample.subDag.blocks[0]!
const committee = sample.committee

layer(NodeCryptoLayer)("invalid data on demand: exactly the named fault", (it) => {
  it.effect("the untouched block has no problem (so each fault below is the only one)", () =>
    Effect.gen(function* () {
      expect(yield* blockProblems(block, committee)).toEqual([])
    })
  )

  it.effect("bad block signature", () =>
    Effect.gen(function* () {
      expect(yield* blockProblems(withBadBlockSignature(block), committee)).toEqual(["BlockSignature"])
    })
  )

  it.effect("wrong author: names another member, signed by the real author", () =>
    Effect.gen(function* () {
      const problems = yield* blockProblems(withWrongAuthor(generator, block, committee), committee)
      expect(problems).toContain("BlockSignature")
    })
  )

  it.effect("unknown author", () =>
    Effect.gen(function* () {
      expect(yield* blockProblems(withUnknownAuthor(generator, block, committee), committee)).toEqual(["UnknownAuthor"])
    })
  )

  it.effect("equivocating block: validly signed, same slot, different digest", () =>
    Effect.gen(function* () {
      const twin = equivocatingBlock(generator, block)
      expect(yield* blockProblems(twin, committee)).toEqual([])
      expect(twin.ref.round).toBe(block.ref.round)
      expect(twin.ref.author).toBe(block.ref.author)
      expect(bytesEqual(twin.ref.digest, block.ref.digest)).toBe(false)
    })
  )

  const txFaults: ReadonlyArray<[TransactionFault, string]> = [
    ["BelowQuorum", "CertificateBelowQuorum"],
    ["DuplicateSigner", "DuplicateSigner"],
    ["UnknownSigner", "UnknownSigner"],
    ["BadAuthoritySignature", "AuthoritySignature"],
    ["BadSenderSignature", "SenderSignature"],
    ["WrongEpoch", "CertificateWrongEpoch"]
  ]
  for (const [fault, expected] of txFaults) {
    it.effect(`uncertified transaction (${fault}) inside a validly signed block`, () =>
      Effect.gen(function* () {
        const problems = yield* blockProblems(withUncertifiedTransaction(generator, block, committee, fault), committee)
        expect(problems).toContain(expected)
        expect(problems).not.toContain("BlockSignature")
      })
    )
  }

  it.effect("broken hash chain", () =>
    Effect.gen(function* () {
      const bytes = withBrokenHashChain(commits.map((c) => c.subDag.commit.commit), 2)
      const decoded = bytes.map((b) => Either.getOrThrow(decodeCommit(b)))
      const linked = decoded.map((c, i) => i === 0 || bytesEqual(c.previousDigest, commitDigestOf(bytes[i - 1]!)))
      // Commit 3 no longer links to commit 2, and commit 4 no longer links to the altered commit 3.
      expect(linked).toEqual([true, true, false, false])
    })
  )

  it.effect("missing votes: the certifiers left stay below quorum", () =>
    Effect.gen(function* () {
      const kept = withMissingVotes(sample.certifierBlocks, committee)
      expect(reachesQuorum(committee, sample.certifierBlocks.map((b) => b.signed.block.author))).toBe(true)
      expect(reachesQuorum(committee, kept.map((b) => b.signed.block.author))).toBe(false)
      expect(kept.length).toBeGreaterThan(0)
    })
  )

  it.effect("a NodeInfo signed by the wrong key does not verify against its PeerId", () =>
    Effect.gen(function* () {
      const crypto = yield* Crypto
      const owner = generator.networkSigner(0)
      const info: NodeInfo = {
        peerId: peerIdFromPublicKey(owner.publicKey),
        addresses: ["/ip4/127.0.0.1/tcp/9000"],
        timestampMs: 1,
        role: "Validator",
        capabilities: 1
      }
      const check = (signature: Uint8Array) =>
        crypto.verify({ publicKey: owner.publicKey, message: nodeInfoSigningMessage(info), signature })
      expect(yield* check(signNodeInfo(info, owner).signature)).toBe(true)
      expect(yield* check(nodeInfoSignedByWrongKey(info, generator.networkSigner(1)).signature)).toBe(false)
    })
  )
})
