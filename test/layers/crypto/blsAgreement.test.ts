/**
 * blst (node layer) and noble must give the same BLS verdict on every input — a split verdict is a
 * fork — and derive the same key pairs and signatures. Property tests over random committees'
 * certificates with random mutations of message, signature, signer bitmap and key set (including a
 * reused key-set id with other keys, which the caches must not be fooled by), verified as batches on
 * the pool (random-scalar batch + bisection) and one by one, against noble item by item.
 * noble costs ≈ 30–45 ms per pairing check (with hashing): the verdict property runs ≈ 25 of them.
 */
import { expect, layer } from "@effect/vitest"
import { Context, Effect, FastCheck as fc, Layer } from "effect"
import { makeNobleCrypto } from "../../../src/layers/crypto/NobleCryptoLayer.js"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import type { AggregateItem, CryptoService } from "../../../src/services/Crypto.js"
import {
  certify,
  flipBit,
  g1OutsideSubgroup,
  g2OutsideSubgroup,
  INFINITY_PUBLIC_KEY,
  INFINITY_SIGNATURE,
  makeCommittee,
  withKey
} from "./blsFixtures.js"
import { toHex } from "./fixtures.js"

class Both extends Context.Tag("test/BothBlsCryptos")<
  Both,
  { readonly node: CryptoService; readonly noble: CryptoService }
>() {}

// blsInlineBelow 2: a batch of one runs inline on this thread, larger ones on the pool.
const BothLayer = Layer.scoped(Both, Effect.all({ node: makeNodeCrypto({ blsInlineBelow: 2 }), noble: makeNobleCrypto }))

const N = 10
const committee = makeCommittee("agree", N)
const otherCommittee = makeCommittee("agree-other", N)

/** What is done to a valid certificate before it is verified. */
type Mutation =
  | { readonly kind: "message"; readonly position: number; readonly bit: number }
  | { readonly kind: "signatureBit"; readonly position: number; readonly bit: number }
  | { readonly kind: "signature"; readonly to: "infinity" | "outsideSubgroup" | "short" | "long" | "otherMessage" }
  | { readonly kind: "signerBit"; readonly bit: number }
  | { readonly kind: "bitmapLength"; readonly longer: boolean }
  | { readonly kind: "keySet"; readonly to: "other" | "otherKeysSameId" }
  | {
      readonly kind: "key"
      readonly index: number
      readonly to: "bitFlip" | "infinity" | "outsideSubgroup" | "short" | "otherKey"
      readonly position: number
      readonly bit: number
    }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("message" as const), position: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("signatureBit" as const), position: fc.nat({ max: 95 }), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant("signature" as const),
    to: fc.constantFrom("infinity" as const, "outsideSubgroup" as const, "short" as const, "long" as const, "otherMessage" as const)
  }),
  fc.record({ kind: fc.constant("signerBit" as const), bit: fc.nat({ max: 15 }) }),
  fc.record({ kind: fc.constant("bitmapLength" as const), longer: fc.boolean() }),
  fc.record({ kind: fc.constant("keySet" as const), to: fc.constantFrom("other" as const, "otherKeysSameId" as const) }),
  fc.record({
    kind: fc.constant("key" as const),
    index: fc.nat({ max: N - 1 }),
    to: fc.constantFrom("bitFlip" as const, "infinity" as const, "outsideSubgroup" as const, "short" as const, "otherKey" as const),
    position: fc.nat({ max: 47 }),
    bit: fc.integer({ min: 0, max: 7 })
  })
)

const mutate = (item: AggregateItem, m: Mutation): AggregateItem => {
  switch (m.kind) {
    case "message":
      return { ...item, message: flipBit(item.message, m.position, m.bit) }
    case "signatureBit":
      return { ...item, signature: flipBit(item.signature, m.position, m.bit) }
    case "signature": {
      const signature = {
        infinity: INFINITY_SIGNATURE,
        outsideSubgroup: g2OutsideSubgroup().bytes,
        short: item.signature.subarray(0, 95),
        long: Uint8Array.of(...item.signature, 0),
        otherMessage: certify(committee, [0, 1], Uint8Array.of(...item.message, 1)).signature
      }[m.to]
      return { ...item, signature }
    }
    case "signerBit":
      return { ...item, signers: flipBit(item.signers, m.bit >> 3, m.bit & 7) }
    case "bitmapLength":
      return { ...item, signers: m.longer ? Uint8Array.of(...item.signers, 0) : item.signers.subarray(0, item.signers.length - 1) }
    case "keySet":
      return {
        ...item,
        keySet: m.to === "other" ? otherCommittee.keySet : { id: item.keySet.id, keys: otherCommittee.keySet.keys }
      }
    case "key": {
      const old = item.keySet.keys[m.index]!
      const key = {
        bitFlip: flipBit(old, m.position, m.bit),
        infinity: INFINITY_PUBLIC_KEY,
        outsideSubgroup: g1OutsideSubgroup().bytes,
        short: old.subarray(0, 47),
        otherKey: otherCommittee.keySet.keys[m.index]!
      }[m.to]
      // Half the time the changed set keeps the committee's id: the caches must notice the new bytes.
      return { ...item, keySet: withKey(item.keySet, m.index, key, m.position % 2 === 0 ? item.keySet.id : `${item.keySet.id}/${m.to}`) }
    }
  }
}

const itemArb = fc.record({
  signers: fc.uniqueArray(fc.nat({ max: N - 1 }), { minLength: 1, maxLength: N }),
  message: fc.uint8Array({ minLength: 0, maxLength: 64 }),
  mutations: fc.array(mutationArb, { maxLength: 2 })
})

layer(BothLayer)("BLS: node (blst) and noble agree", (it) => {
  it.effect.prop(
    "random seed: the same key pair (IETF KeyGen)",
    [fc.uint8Array({ minLength: 32, maxLength: 96 })],
    ([seed]) =>
      Effect.gen(function* () {
        const { node, noble } = yield* Both
        const fromNode = yield* node.blsKeypairFromSeed(seed)
        const fromNoble = yield* noble.blsKeypairFromSeed(seed)
        expect(toHex(fromNoble.secretKey)).toBe(toHex(fromNode.secretKey))
        expect(toHex(fromNoble.publicKey)).toBe(toHex(fromNode.publicKey))
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect.prop(
    "random key and message: the same signature, and each layer verifies the other's",
    [fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 0, maxLength: 200 })],
    ([seed, message]) =>
      Effect.gen(function* () {
        const { node, noble } = yield* Both
        const keypair = yield* node.blsKeypairFromSeed(seed)
        const signature = yield* node.blsSign(keypair, message)
        expect(toHex(yield* noble.blsSign(keypair, message))).toBe(toHex(signature))
        const item = { keySet: { id: toHex(keypair.publicKey), keys: [keypair.publicKey] }, signers: Uint8Array.of(1), message, signature }
        expect([...(yield* node.verifyAggregates([item])), ...(yield* noble.verifyAggregates([item]))]).toEqual([true, true])
      }),
    { fastCheck: { numRuns: 6 } }
  )

  it.effect.prop(
    "random certificates with random mutations: the same verdict, in a batch and alone",
    [fc.array(itemArb, { minLength: 1, maxLength: 3 })],
    ([drawn]) =>
      Effect.gen(function* () {
        const { node, noble } = yield* Both
        const items = drawn.map(({ signers, message, mutations }) => mutations.reduce(mutate, certify(committee, signers, message)))
        const fromNoble = yield* noble.verifyAggregates(items)
        expect(yield* node.verifyAggregates(items)).toEqual(fromNoble)
        // alone: the inline path, one item per pairing check
        expect(yield* Effect.forEach(items, (item) => node.verifyAggregates([item]), { concurrency: 1 })).toEqual(fromNoble.map((v) => [v]))
        drawn.forEach(({ mutations }, i) => {
          if (mutations.length === 0) expect(fromNoble[i]).toBe(true)
        })
      }),
    // ≈ 1.2 items per run reach noble's pairing check (most mutations fail on decoding): ≈ 25 checks.
    { fastCheck: { numRuns: 20 } }
  )

  it.effect("a batch mixing many valid and mutated certificates: the same verdicts, item by item", () =>
    Effect.gen(function* () {
      const { node, noble } = yield* Both
      // Deterministic sample of every mutation kind; node bisects, noble checks each item.
      const samples = fc.sample(itemArb, { seed: 42, numRuns: 12 })
      const items = samples.map(({ signers, message, mutations }, i) =>
        (i % 3 === 0 ? [] : mutations).reduce(mutate, certify(committee, signers, message))
      )
      const fromNoble = yield* noble.verifyAggregates(items)
      expect(yield* node.verifyAggregates(items)).toEqual(fromNoble)
      expect(new Set(fromNoble).size).toBe(2)
    })
  )
})
