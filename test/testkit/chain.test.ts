import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { bytesEqual, toHex } from "../../src/domain/bytes.js"
import { decodeCommit, endOfEpochBlock } from "../../src/domain/commit.js"
import { reachesQuorum, stakeOf, quorumThreshold } from "../../src/domain/committee.js"
import { ZERO_DIGEST } from "../../src/domain/primitives.js"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { aggregateSignatures, Signature } from "@chainsafe/blst"
import { ChainGenerator, type ChainConfig, type GeneratedCommit } from "../../src/testkit/chain.js"
import { cachedChain } from "../../src/testkit/chainCache.js"
import { aggregateSign } from "../../src/testkit/keys.js"
import { blake2b256 } from "../../src/domain/hash.js"
import { nodeInfoSigningMessage, type NodeInfo } from "../../src/domain/nodeInfo.js"
import { peerIdFromPublicKey } from "../../src/domain/PeerId.js"
import { nodeInfoSignedByWrongKey, signNodeInfo } from "../../src/testkit/faults.js"
import { NodeCryptoLayer } from "../../src/layers/crypto/NodeCryptoLayer.js"
import { VerifierLayer } from "../../src/layers/verifier/VerifierLayer.js"
import { Crypto } from "../../src/services/Crypto.js"
import { Verifier } from "../../src/services/Verifier.js"
import { Layer } from "effect"

const digests = (commits: ReadonlyArray<GeneratedCommit>) => commits.map((c) => toHex(c.subDag.commitRef.digest))

/**
 * Checks what DESIGN.md requires of a valid chain — the real `Verifier` for blocks, plus the commit-level
 * invariants here — and returns the problems found (empty = valid).
 */
const chainProblems = (commits: ReadonlyArray<GeneratedCommit>) =>
  Effect.gen(function* () {
    const verifier = yield* Verifier
    const problems: Array<string> = []
    let previous: Uint8Array = ZERO_DIGEST
    let epoch = 0
    for (const [i, c] of commits.entries()) {
      const commit = c.subDag.commit.commit
      const at = `commit ${commit.index}`
      if (commit.index !== i + 1) problems.push(`${at}: index not consecutive`)
      if (!bytesEqual(commit.previousDigest, previous)) problems.push(`${at}: hash chain broken`)
      const decoded = decodeCommit(c.subDag.commit.bytes)
      if (Either.isLeft(decoded)) problems.push(`${at}: bytes do not decode`)
      if (!bytesEqual(blake2b256(c.subDag.commit.bytes), c.subDag.commitRef.digest)) problems.push(`${at}: digest mismatch`)
      previous = c.subDag.commitRef.digest
      if (commit.epoch !== epoch) problems.push(`${at}: epoch ${commit.epoch}, expected ${epoch}`)
      if (c.committee.epoch !== commit.epoch) problems.push(`${at}: committee of another epoch`)
      // The sub-DAG holds exactly the listed blocks, in the listed order, including the leader.
      const listed = commit.blocks.map((r) => toHex(r.digest))
      if (listed.join() !== c.subDag.blocks.map((b) => toHex(b.ref.digest)).join()) problems.push(`${at}: sub-DAG differs from the listed blocks`)
      if (!listed.includes(toHex(commit.leader.digest))) problems.push(`${at}: leader not committed`)
      const blocks = [...c.subDag.blocks, ...c.certifierBlocks]
      const verdicts = yield* verifier.verifyBlocks(c.committee, blocks.map((b) => ({ bytes: b.bytes, expected: b.ref })))
      verdicts.forEach((v, k) => {
        if (Either.isLeft(v)) problems.push(`${at}: block ${blocks[k]!.ref.round}/${blocks[k]!.ref.author}: ${v.left.message}`)
      })
      // Certifier blocks vote for this commit with quorum stake.
      const voters = c.certifierBlocks
        .filter((b) => b.signed.block.commitVotes.some((v) => v.index === commit.index && bytesEqual(v.digest, c.subDag.commitRef.digest)))
        .map((b) => b.signed.block.author)
      if (!reachesQuorum(c.committee, voters)) problems.push(`${at}: certifier votes below quorum`)
      const eoe = endOfEpochBlock(c.subDag)
      if (c.lastOfEpoch !== (eoe !== undefined)) problems.push(`${at}: lastOfEpoch flag disagrees with end-of-epoch data`)
      if (c.lastOfEpoch) epoch += 1
    }
    return problems
  })

const configs: ReadonlyArray<[string, ChainConfig, number]> = [
  ["equal stakes, all parents", { seed: 1, validators: 4, commitsPerEpoch: 5, transactionsPerBlock: 2 }, 13],
  ["unequal stakes, quorum parents", { seed: 2, validators: 7, commitsPerEpoch: 4, transactionsPerBlock: 1, equalStake: false, parents: "quorum" }, 10],
  ["one validator", { seed: 3, validators: 1, commitsPerEpoch: 3, transactionsPerBlock: 1 }, 7]
]

layer(Layer.provideMerge(VerifierLayer, NodeCryptoLayer))("chain generator", (it) => {
  for (const [name, config, count] of configs) {
    it.effect(`produces a valid chain across epoch changes (${name})`, () =>
      Effect.gen(function* () {
        const commits = new ChainGenerator(config).take(count)
        expect(commits).toHaveLength(count)
        expect(yield* chainProblems(commits)).toEqual([])
        // It really crossed epochs, with rotated protocol keys in the new committee.
        const epochs = [...new Set(commits.map((c) => c.subDag.epoch))]
        expect(epochs.length).toBeGreaterThanOrEqual(2)
        const [first, second] = [commits[0]!.committee, commits.find((c) => c.subDag.epoch === 1)!.committee]
        expect(toHex(first.authorities[0]!.protocolKey)).not.toBe(toHex(second.authorities[0]!.protocolKey))
        expect(toHex(first.authorities[0]!.networkKey)).toBe(toHex(second.authorities[0]!.networkKey))
      })
    )
  }

  it.effect("the end-of-epoch data names the committee that signs the next epoch's blocks", () =>
    Effect.gen(function* () {
      const commits = new ChainGenerator({ seed: 9, validators: 4, commitsPerEpoch: 3, transactionsPerBlock: 0, equalStake: false }).take(4)
      const last = commits[2]!
      const next = endOfEpochBlock(last.subDag)!.signed.block.endOfEpoch!.nextCommittee
      expect(next).toEqual(commits[3]!.committee)
      expect(stakeOf(next, [0, 1, 2, 3])).toBe(stakeOf(last.committee, [0, 1, 2, 3]))
      expect(next.authorities.map((a) => a.stake)).not.toEqual(last.committee.authorities.map((a) => a.stake))
    })
  )

  it.effect("a chain whose hash chain is broken is caught by the same checks (the checks can fail)", () =>
    Effect.gen(function* () {
      const commits = new ChainGenerator({ seed: 1, validators: 4, commitsPerEpoch: 5, transactionsPerBlock: 1 }).take(3)
      const swapped = [commits[0]!, commits[2]!, commits[1]!]
      const problems = yield* chainProblems(swapped)
      expect(problems.some((p) => p.includes("hash chain broken"))).toBe(true)
    })
  )

  it.effect("makes NodeInfos signed by the right key, and on demand by the wrong one", () =>
    Effect.gen(function* () {
      const crypto = yield* Crypto
      const generator = new ChainGenerator({ seed: 4, validators: 2, commitsPerEpoch: 2, transactionsPerBlock: 0 })
      const owner = generator.networkSigner(0)
      const info: NodeInfo = { peerId: peerIdFromPublicKey(owner.publicKey), addresses: ["/ip4/127.0.0.1/tcp/9000"], timestampMs: 1, role: "Validator", capabilities: 1 }
      const check = (signature: Uint8Array) => crypto.verify({ publicKey: owner.publicKey, message: nodeInfoSigningMessage(info), signature })
      expect(yield* check(signNodeInfo(info, owner).signature)).toBe(true)
      expect(yield* check(nodeInfoSignedByWrongKey(info, generator.networkSigner(1)).signature)).toBe(false)
    })
  )
})

describe("chain generator determinism and streaming", () => {
  it("the same seed gives the same chain; another seed another chain", () => {
    const config = { seed: 42, validators: 4, commitsPerEpoch: 4, transactionsPerBlock: 2 }
    expect(digests(new ChainGenerator(config).take(6))).toEqual(digests(new ChainGenerator(config).take(6)))
    expect(digests(new ChainGenerator({ ...config, seed: 43 }).take(6))).not.toEqual(digests(new ChainGenerator(config).take(6)))
  })

  it("is lazy: the first commit of an endless epoch comes without generating the rest", () => {
    const generator = new ChainGenerator({ seed: 5, validators: 4, commitsPerEpoch: 1_000_000, transactionsPerBlock: 1 })
    const iterator = generator.commits()
    const first = iterator.next()
    expect(first.done).toBe(false)
    if (!first.done) expect(first.value.subDag.commitRef.index).toBe(1)
  })

  it("certifier blocks are exactly the next round's blocks, which the next commit then includes", () => {
    const commits = new ChainGenerator({ seed: 6, validators: 4, commitsPerEpoch: 10, transactionsPerBlock: 0 }).take(3)
    const [a, b] = [commits[0]!, commits[1]!]
    expect(a.certifierBlocks.every((blk) => blk.ref.round === a.subDag.leader.round + 1)).toBe(true)
    const inB = new Set(b.subDag.blocks.map((blk) => toHex(blk.ref.digest)))
    expect(a.certifierBlocks.some((blk) => inB.has(toHex(blk.ref.digest)))).toBe(true)
    expect(stakeOf(a.committee, a.certifierBlocks.map((blk) => blk.signed.block.author))).toBeGreaterThanOrEqual(quorumThreshold(a.committee))
  })
})

describe("chain generator at committee scale", () => {
  it("an aggregate made with one signing by the sum of the keys equals the aggregate of each signer's signature", () => {
    const generator = new ChainGenerator({ seed: 4, validators: 100, commitsPerEpoch: 10, transactionsPerBlock: 1 })
    const signers = Array.from({ length: 67 }, (_, i) => generator.authoritySigner(0, (i * 3) % 100))
    const message = new TextEncoder().encode("certify me")
    const individually = aggregateSignatures(signers.map((s) => Signature.fromBytes(s.sign(message), true))).toBytes(true)
    expect(toHex(aggregateSign(signers, message))).toBe(toHex(individually))
  })

  it("a cached chain reads back byte for byte as generated, from the file written on first use", () => {
    const dir = mkdtempSync(join(tmpdir(), "soma-chain-cache-test-"))
    const previous = process.env["SOMA_CHAIN_CACHE"]
    process.env["SOMA_CHAIN_CACHE"] = dir
    try {
      const config: ChainConfig = { seed: 6, validators: 7, commitsPerEpoch: 3, transactionsPerBlock: 2 }
      const bytesOf = (commits: ReadonlyArray<GeneratedCommit>) =>
        commits.map((c) => [c.subDag.commit.bytes, ...c.subDag.blocks.map((b) => b.bytes), ...c.certifierBlocks.map((b) => b.bytes), c.lastOfEpoch, c.committee.epoch].map(String).join("|"))
      const generated = cachedChain(config, 5)
      expect(readdirSync(dir).filter((f) => f.endsWith(".chain"))).toHaveLength(1)
      const read = cachedChain(config, 5)
      expect(bytesOf(read)).toEqual(bytesOf(generated))
      expect(bytesOf(read)).toEqual(bytesOf(new ChainGenerator(config).take(5)))
      // Fewer commits come from the same file; more regenerate it.
      expect(bytesOf(cachedChain(config, 2))).toEqual(bytesOf(generated).slice(0, 2))
      expect(cachedChain(config, 6)).toHaveLength(6)
    } finally {
      if (previous === undefined) delete process.env["SOMA_CHAIN_CACHE"]
      else process.env["SOMA_CHAIN_CACHE"] = previous
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
