/**
 * The BLS12-381 behaviour every `Crypto` layer must have, as one suite run against each layer: key
 * generation and signing round trips, aggregate certificates, and every way a certificate can be
 * wrong — message, signer bitmap, key set, tampered, infinity or out-of-subgroup signatures and keys,
 * malformed lengths — alone and mixed in batches (which, on the node layer, exercises the bisection
 * of a failed random-scalar batch). noble needs ≈ 45 ms per pairing check: the suite runs ≈ 90.
 */
import { PublicKey } from "@chainsafe/blst"
import { bls12_381 } from "@noble/curves/bls12-381.js"
import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, type Layer } from "effect"
import { type AggregateItem, Crypto } from "../../../src/services/Crypto.js"
import {
  aggregate,
  bitmapOf,
  certify,
  flipBit,
  g1OutsideSubgroup,
  g2OutsideSubgroup,
  INFINITY_PUBLIC_KEY,
  INFINITY_SIGNATURE,
  makeCommittee,
  pickSigners,
  withKey
} from "./blsFixtures.js"
import { toHex, utf8 } from "./fixtures.js"

interface BlsCase {
  readonly name: string
  readonly item: AggregateItem
  readonly expected: boolean
}

/** The hand-made cases (built once per test file: blst signing is fast). */
export const blsCases = (): ReadonlyArray<BlsCase> => {
  const A = makeCommittee("A", 100)
  const B = makeCommittee("B", 100)
  const n = 100
  const message = utf8("intent ‖ digest of one certificate")
  const signers = pickSigners(n, 67, 1)
  const valid = certify(A, signers, message)
  const notSigning = [...Array(n).keys()].find((i) => !signers.includes(i))!
  const signer = signers[10]!

  // A small committee whose key 3 is replaced by a bad key; items with and without signer 3. The
  // item with signer 3 carries the signature of the OTHER signers: with an infinity key, a verifier
  // that checks only the aggregate key would accept it (the fast_aggregate_verify trap).
  const S = makeCommittee("S", 10)
  const withBadKey = (name: string, key: Uint8Array): ReadonlyArray<BlsCase> => {
    const keySet = withKey(S.keySet, 3, key, `S-with-${name}`)
    const using = { ...certify(S, [1, 5], message), signers: bitmapOf(10, [1, 3, 5]) }
    const notUsing = certify(S, [1, 5, 9], message)
    return [
      { name: `${name} key among the signers`, item: { ...using, keySet }, expected: false },
      { name: `${name} key in the set, not among the signers`, item: { ...notUsing, keySet }, expected: true }
    ]
  }
  const uncompressedKey = PublicKey.fromBytes(S.keySet.keys[3]!).toBytes(false)
  const signatureUncompressed = bls12_381.longSignatures.Signature.fromBytes(valid.signature).toBytes(false)

  // Keys pk and −pk: their sum is the point at infinity (no valid key set has them: proofs of possession).
  const negated = bls12_381.G1.Point.fromBytes(S.keySet.keys[0]!).negate().toBytes(true)
  const cancelling = withKey(S.keySet, 1, negated, "S-cancelling")
  // Key 0 twice: the aggregate is 2·pk, the signature 2·sig — valid.
  const duplicated = withKey(S.keySet, 1, S.keySet.keys[0]!, "S-duplicated")
  const sig0 = S.secretKeys[0]!.sign(message).toBytes()

  return [
    { name: "67 of 100 signers", item: valid, expected: true },
    { name: "all 100 signers", item: certify(A, [...Array(n).keys()], message), expected: true },
    { name: "a single signer", item: certify(A, [signer], message), expected: true },
    { name: "wrong message", item: { ...valid, message: utf8("intent ‖ digest of another certificate") }, expected: false },
    { name: "empty message", item: { ...valid, message: new Uint8Array(0) }, expected: false },
    { name: "extra signer in the bitmap", item: { ...valid, signers: bitmapOf(n, [...signers, notSigning]) }, expected: false },
    { name: "missing signer in the bitmap", item: { ...valid, signers: bitmapOf(n, signers.filter((i) => i !== signer)) }, expected: false },
    { name: "key set of another committee", item: { ...valid, keySet: B.keySet }, expected: false },
    { name: "same id, other committee's keys", item: { ...valid, keySet: { id: A.keySet.id, keys: B.keySet.keys } }, expected: false },
    { name: "tampered signature (a middle byte)", item: { ...valid, signature: flipBit(valid.signature, 50, 3) }, expected: false },
    { name: "tampered signature (last byte)", item: { ...valid, signature: flipBit(valid.signature, 95, 0) }, expected: false },
    { name: "tampered signature (sort flag: −sig)", item: { ...valid, signature: flipBit(valid.signature, 0, 5) }, expected: false },
    { name: "tampered signature (compression flag)", item: { ...valid, signature: flipBit(valid.signature, 0, 7) }, expected: false },
    { name: "tampered signature (infinity flag)", item: { ...valid, signature: flipBit(valid.signature, 0, 6) }, expected: false },
    { name: "infinity signature", item: { ...valid, signature: INFINITY_SIGNATURE }, expected: false },
    { name: "G2 point outside the subgroup as signature", item: { ...valid, signature: g2OutsideSubgroup().bytes }, expected: false },
    { name: "signature of 95 bytes", item: { ...valid, signature: valid.signature.subarray(0, 95) }, expected: false },
    { name: "signature of 97 bytes", item: { ...valid, signature: Uint8Array.of(...valid.signature, 0) }, expected: false },
    { name: "empty signature", item: { ...valid, signature: new Uint8Array(0) }, expected: false },
    { name: "uncompressed signature (192 bytes)", item: { ...valid, signature: signatureUncompressed }, expected: false },
    { name: "bitmap one byte short", item: { ...valid, signers: valid.signers.subarray(0, 12) }, expected: false },
    { name: "bitmap one byte long", item: { ...valid, signers: Uint8Array.of(...valid.signers, 0) }, expected: false },
    { name: "bitmap with a bit past n", item: { ...valid, signers: bitmapOf(104, [...signers, 101]) }, expected: false },
    { name: "bitmap with no bit set", item: { ...valid, signers: new Uint8Array(13) }, expected: false },
    { name: "empty key set", item: { ...valid, keySet: { id: "empty", keys: [] }, signers: new Uint8Array(0) }, expected: false },
    ...withBadKey("infinity", INFINITY_PUBLIC_KEY),
    ...withBadKey("G1 point outside the subgroup as", g1OutsideSubgroup().bytes),
    ...withBadKey("47-byte", S.keySet.keys[3]!.subarray(0, 47)),
    ...withBadKey("49-byte", Uint8Array.of(...S.keySet.keys[3]!, 0)),
    ...withBadKey("uncompressed (96-byte)", uncompressedKey),
    ...withBadKey("tampered", flipBit(S.keySet.keys[3]!, 20, 1)),
    {
      name: "signers whose keys sum to the point at infinity, infinity signature",
      item: { keySet: cancelling, signers: bitmapOf(10, [0, 1]), message, signature: INFINITY_SIGNATURE },
      expected: false
    },
    {
      name: "signers whose keys sum to the point at infinity, another signature",
      item: { keySet: cancelling, signers: bitmapOf(10, [0, 1]), message, signature: sig0 },
      expected: false
    },
    {
      // Each key is valid and so is the aggregate: the IETF FastAggregateVerify accepts this. Proofs of
      // possession (checked when a committee is accepted) are what keep −pk out of a committee.
      name: "keys that cancel out among other signers (the rest signs)",
      item: { keySet: cancelling, signers: bitmapOf(10, [0, 1, 2]), message, signature: S.secretKeys[2]!.sign(message).toBytes() },
      expected: true
    },
    {
      name: "the same key twice in the committee, both signing",
      item: { keySet: duplicated, signers: bitmapOf(10, [0, 1]), message, signature: aggregate([sig0, sig0]) },
      expected: true
    }
  ]
}

/** Runs the BLS part of the Crypto contract against `cryptoLayer`. */
export const blsSuite = (label: string, cryptoLayer: Layer.Layer<Crypto>) =>
  layer(cryptoLayer)(`Crypto BLS contract (${label})`, (it) => {
    const cases = blsCases()

    it("the invalid points really are what the cases say", () => {
      expect(g1OutsideSubgroup().torsionFree).toBe(false)
      expect(g2OutsideSubgroup().torsionFree).toBe(false)
      // on the curve: noble refuses them for the subgroup, not for the encoding
      expect(() => bls12_381.G1.Point.fromBytes(g1OutsideSubgroup().bytes)).toThrow(/subgroup/)
      expect(() => bls12_381.longSignatures.Signature.fromBytes(g2OutsideSubgroup().bytes)).toThrow(/subgroup/)
      // and noble decodes c0 00… to the zero point rather than refusing it
      expect(bls12_381.G1.Point.fromBytes(INFINITY_PUBLIC_KEY).is0()).toBe(true)
    })

    it.effect("key pair from seed: 32-byte secret, 48-byte public key, deterministic", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const seed = new Uint8Array(32).fill(7)
        const keypair = yield* crypto.blsKeypairFromSeed(seed)
        expect(keypair.secretKey.length).toBe(32)
        expect(keypair.publicKey.length).toBe(48)
        expect(toHex((yield* crypto.blsKeypairFromSeed(seed)).publicKey)).toBe(toHex(keypair.publicKey))
        const other = yield* crypto.blsKeypairFromSeed(new Uint8Array(32).fill(8))
        expect(toHex(other.publicKey)).not.toBe(toHex(keypair.publicKey))
        // longer seeds are fine (IKM of any length ≥ 32)
        expect((yield* crypto.blsKeypairFromSeed(new Uint8Array(64).fill(7))).publicKey.length).toBe(48)
      })
    )

    it.effect("a seed shorter than 32 bytes, or a secret key that is not a scalar, is a defect", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const short = yield* Effect.exit(crypto.blsKeypairFromSeed(new Uint8Array(31)))
        expect(Exit.isFailure(short) && Cause.isDie(short.cause)).toBe(true)
        const keypair = yield* crypto.blsKeypairFromSeed(new Uint8Array(32))
        const zero = yield* Effect.exit(crypto.blsSign({ ...keypair, secretKey: new Uint8Array(32) }, utf8("m")))
        expect(Exit.isFailure(zero) && Cause.isDie(zero.cause)).toBe(true)
        const large = yield* Effect.exit(crypto.blsSign({ ...keypair, secretKey: new Uint8Array(32).fill(0xff) }, utf8("m")))
        expect(Exit.isFailure(large) && Cause.isDie(large.cause)).toBe(true)
      })
    )

    it.effect("sign / verify round trip: one signer, then an aggregate of 5, with the layer's own keys", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const keypairs = yield* Effect.forEach([1, 2, 3, 4, 5, 6], (i) => crypto.blsKeypairFromSeed(new Uint8Array(32).fill(i)))
        const keySet = { id: "round-trip", keys: keypairs.map((k) => k.publicKey) }
        const message = utf8("round trip")
        const signatures = yield* Effect.forEach(keypairs, (k) => crypto.blsSign(k, message))
        expect(signatures.every((s) => s.length === 96)).toBe(true)
        // deterministic
        expect(toHex(yield* crypto.blsSign(keypairs[0]!, message))).toBe(toHex(signatures[0]!))
        const single = { keySet, signers: bitmapOf(6, [2]), message, signature: signatures[2]! }
        const five = { keySet, signers: bitmapOf(6, [0, 1, 3, 4, 5]), message, signature: aggregate(signatures.filter((_, i) => i !== 2)) }
        expect(yield* crypto.verifyAggregates([single, five])).toEqual([true, true])
        expect(yield* crypto.verifyAggregates([{ ...five, signers: bitmapOf(6, [0, 1, 2, 3, 4]) }])).toEqual([false])
      })
    )

    for (const c of cases) {
      it.effect(`${c.name} → ${c.expected}`, () =>
        Effect.gen(function* () {
          const crypto = yield* Crypto
          expect(yield* crypto.verifyAggregates([c.item])).toEqual([c.expected])
        })
      )
    }

    it.effect("every case in one batch: each verdict as when alone, in order", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const items = [...cases, ...cases.slice().reverse()]
        expect(yield* crypto.verifyAggregates(items.map((c) => c.item))).toEqual(items.map((c) => c.expected))
      })
    )

    it.effect("one bad certificate among 50 good ones: exactly that index is false", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const committee = makeCommittee("batch", 20)
        const items = Array.from({ length: 51 }, (_, i) => certify(committee, pickSigners(20, 14, i + 7), utf8(`certificate ${i}`)))
        const bad = 37
        items[bad] = { ...items[bad]!, message: utf8("another message") }
        const verdicts = yield* crypto.verifyAggregates(items)
        expect(verdicts.flatMap((v, i) => (v ? [] : [i]))).toEqual([bad])
      })
    )

    it.effect("an empty batch gives []", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        expect(yield* crypto.verifyAggregates([])).toEqual([])
      })
    )
  })
