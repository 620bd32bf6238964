/**
 * Certification at committee scale (DESIGN.md §3, §6.2; reference network §10): 100 validators, BLS
 * certificates. A forged certifier answer costs one signature check per certifier block, never one
 * per transaction; a committee is accepted only when every authority key proves possession.
 */
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Either, Layer, Ref } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import type { Committee } from "../../../src/domain/committee.js"
import { blake2b256 } from "../../../src/domain/hash.js"
import { cachedChain } from "../../../src/testkit/chainCache.js"
import { ChainGenerator } from "../../../src/testkit/chain.js"
import { withBadBlockSignature, withUncertifiedTransaction } from "../../../src/testkit/faults.js"
import { encodeBcs } from "../../../src/domain/codec.js"
import { BlockRefBcs } from "../../../src/domain/refs.js"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { VerifierLayer } from "../../../src/layers/verifier/VerifierLayer.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { Verifier } from "../../../src/services/Verifier.js"
import { g1OutsideSubgroup, INFINITY_PUBLIC_KEY } from "../crypto/blsFixtures.js"

/** 100 validators, 10 certified transactions per block (the typical load of the reference network). */
const config = { seed: 9, validators: 100, commitsPerEpoch: 50, transactionsPerBlock: 10 }
const chain = cachedChain(config, 2)
const generator = new ChainGenerator(config)
const target = chain[1]!
const committee = target.committee

/** Signature checks the verifier asked for, by kind (the real native crypto does the checking). */
class SignatureChecks extends Context.Tag("test/SignatureChecks")<SignatureChecks, Ref.Ref<{ readonly ed25519: number; readonly bls: number }>>() {}

/** Native crypto that counts what it is asked to check. */
const CountingCrypto = Layer.scopedContext(
  Effect.gen(function* () {
    const inner = yield* makeNodeCrypto()
    const checks = yield* Ref.make({ ed25519: 0, bls: 0 })
    const crypto = Crypto.of({
      ...inner,
      verifyMany: (items) => Effect.zipRight(Ref.update(checks, (c) => ({ ...c, ed25519: c.ed25519 + items.length })), inner.verifyMany(items)),
      verifyAggregates: (items) => Effect.zipRight(Ref.update(checks, (c) => ({ ...c, bls: c.bls + items.length })), inner.verifyAggregates(items))
    })
    return Context.make(Crypto, crypto).pipe(Context.add(SignatureChecks, checks))
  })
)

const TestLayer = VerifierLayer.pipe(Layer.provideMerge(CountingCrypto))

/** The committee with member `index`'s authority key replaced (its proof of possession kept). */
const withAuthorityKey = (c: Committee, index: number, authorityKey: Uint8Array): Committee => ({
  ...c,
  authorities: c.authorities.map((a, i) => (i === index ? { ...a, authorityKey } : a))
})

layer(TestLayer)("certification at 100 validators", (it) => {
  it.effect("a forged certifier answer is rejected after the block signatures alone (one check per block)", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      const checks = yield* SignatureChecks
      // Valid-looking blocks with valid certificates inside, but every block signature is broken; the
      // peer names these very blocks as the certifiers of the commit.
      const forged = target.certifierBlocks.map((b) => withBadBlockSignature(b))
      const checked = yield* verifier.checkCommitRange(committee, {
        start: target.subDag.commitRef.index,
        maxCommits: 1,
        previousDigest: chain[0]!.subDag.commitRef.digest,
        commits: [target.subDag.commit.bytes],
        certifierRefs: forged.map((b) => encodeBcs(BlockRefBcs, b.ref))
      })
      expect(checked.certifiers.length).toBe(67) // a minimal quorum of 100 equal stakes
      const asked = new Set(checked.certifiers.map((r) => toHex(r.digest)))
      const served = forged.filter((b) => asked.has(toHex(b.ref.digest))).map((b) => ({ bytes: b.bytes, digest: blake2b256(b.bytes) }))
      const before = yield* Ref.get(checks)
      const result = yield* Effect.either(verifier.verifyCertifiers(committee, target.subDag.commitRef, checked.certifiers, served))
      expect(Either.isLeft(result) && result.left.fault).toBe("InvalidCertifierBlock")
      const after = yield* Ref.get(checks)
      // 67 block signatures; none of the 670 sender signatures or 670 certificates inside.
      expect({ ed25519: after.ed25519 - before.ed25519, bls: after.bls - before.bls }).toEqual({ ed25519: 67, bls: 0 })
    })
  )

  it.effect("the honest answer verifies: 67 block signatures, then every transaction of those blocks", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      const checks = yield* SignatureChecks
      const checked = yield* verifier.checkCommitRange(committee, {
        start: target.subDag.commitRef.index,
        maxCommits: 1,
        previousDigest: chain[0]!.subDag.commitRef.digest,
        commits: [target.subDag.commit.bytes],
        certifierRefs: target.certifierBlocks.map((b) => encodeBcs(BlockRefBcs, b.ref))
      })
      const asked = new Set(checked.certifiers.map((r) => toHex(r.digest)))
      const served = target.certifierBlocks.filter((b) => asked.has(toHex(b.ref.digest))).map((b) => ({ bytes: b.bytes, digest: blake2b256(b.bytes) }))
      const before = yield* Ref.get(checks)
      const verified = yield* verifier.verifyCertifiers(committee, target.subDag.commitRef, checked.certifiers, served)
      const after = yield* Ref.get(checks)
      expect(verified.length).toBe(67)
      expect({ ed25519: after.ed25519 - before.ed25519, bls: after.bls - before.bls }).toEqual({ ed25519: 67 + 670, bls: 670 })
    })
  )

  it.effect("a committee is accepted only with a valid proof of possession for every authority key", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      expect(Either.isRight(yield* Effect.either(verifier.verifyCommittee(committee)))).toBe(true)
      const fault = (c: Committee) =>
        Effect.map(Effect.either(verifier.verifyCommittee(c)), (r) => (Either.isLeft(r) ? { fault: r.left.fault, authorities: r.left.authorities } : "accepted"))
      // Rogue key: member 7 takes member 8's key (a key it cannot prove it owns with its own network key).
      expect(yield* fault(withAuthorityKey(committee, 7, committee.authorities[8]!.authorityKey))).toEqual({ fault: "BadProofOfPossession", authorities: [7] })
      expect(yield* fault(withAuthorityKey(committee, 3, INFINITY_PUBLIC_KEY))).toEqual({ fault: "BadProofOfPossession", authorities: [3] })
      const outside = g1OutsideSubgroup()
      expect(outside.torsionFree).toBe(false)
      expect(yield* fault(withAuthorityKey(committee, 99, outside.bytes))).toEqual({ fault: "BadProofOfPossession", authorities: [99] })
    })
  )

  it.effect("a transaction certified by a signer past the committee, below quorum, or with the infinity aggregate names its fault", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      const block = target.subDag.blocks[5]!
      for (const fault of ["SignerPastCommittee", "BelowQuorum", "InfinitySignature", "WrongBitmapLength", "BadAuthoritySignature"] as const) {
        const bad = withUncertifiedTransaction(generator, block, committee, fault)
        const result = yield* Effect.either(verifier.verifyBlock(committee, { bytes: bad.bytes }))
        expect(Either.isLeft(result) && result.left.transaction).toEqual({ index: 0, fault })
      }
    })
  )
})
