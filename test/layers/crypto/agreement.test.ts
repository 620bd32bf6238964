/**
 * Node (OpenSSL) and noble must give the same verdict on every input — a split verdict is a fork.
 * Property tests over random keys/messages, single-bit mutations and mixed batches.
 */
import { expect, layer } from "@effect/vitest"
import { Context, Effect, FastCheck as fc, Layer } from "effect"
import { makeNobleCrypto } from "../../../src/layers/crypto/NobleCryptoLayer.js"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import type { CryptoService, VerifyItem } from "../../../src/services/Crypto.js"
import { edgeCases, toHex, utf8 } from "./fixtures.js"

class Both extends Context.Tag("test/BothCryptos")<
  Both,
  { readonly node: CryptoService; readonly noble: CryptoService }
>() {}

const BothLayer = Layer.scoped(Both, Effect.all({ node: makeNodeCrypto(), noble: makeNobleCrypto }))

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const messageArb = fc.uint8Array({ minLength: 0, maxLength: 300 })

type Target = "signature" | "publicKey" | "message"

/** Flips bit `bit` of byte `position` (mod length) of the target; an empty message gains a byte. */
const mutate = (item: VerifyItem, target: Target, position: number, bit: number): VerifyItem => {
  const source = item[target]
  if (source.length === 0) return { ...item, [target]: Uint8Array.of(1 << bit) }
  const copy = Uint8Array.from(source)
  const index = position % copy.length
  copy[index] = (copy[index] ?? 0) ^ (1 << bit)
  return { ...item, [target]: copy }
}

const bothVerify = (item: VerifyItem) =>
  Effect.gen(function* () {
    const { node, noble } = yield* Both
    return [yield* node.verify(item), yield* noble.verify(item)] as const
  })

/**
 * A fixed universe of distinct items for the batch property: valid signatures, single-bit mutations of
 * them and every hand-made edge case. Batches are drawn from it, so each item's per-item verdict is
 * computed once (noble is slow) and compared against every batch it appears in.
 */
const makeUniverse = (node: CryptoService) =>
  Effect.gen(function* () {
    const items: Array<VerifyItem> = []
    for (let i = 0; i < 24; i++) {
      const keypair = yield* node.keypairFromSeed(Uint8Array.from({ length: 32 }, (_, j) => (i * 31 + j * 7) & 0xff))
      const message = utf8(`universe message ${i}`.repeat(i % 4))
      const item = { publicKey: keypair.publicKey, message, signature: yield* node.sign(keypair, message) }
      items.push(item, mutate(item, (["signature", "publicKey", "message"] as const)[i % 3]!, i * 5, i % 8))
    }
    for (const edge of edgeCases()) items.push(edge.item)
    return items
  })

layer(BothLayer)("node and noble agree", (it) => {
  it.effect.prop(
    "random seed and message: same public key, same signature, both verify it",
    [seedArb, messageArb],
    ([seed, message]) =>
      Effect.gen(function* () {
        const { node, noble } = yield* Both
        const keypairNode = yield* node.keypairFromSeed(seed)
        const keypairNoble = yield* noble.keypairFromSeed(seed)
        expect(toHex(keypairNode.publicKey)).toBe(toHex(keypairNoble.publicKey))
        const signature = yield* node.sign(keypairNode, message)
        expect(toHex(yield* noble.sign(keypairNoble, message))).toBe(toHex(signature))
        expect(yield* bothVerify({ publicKey: keypairNode.publicKey, message, signature })).toEqual([true, true])
      }),
    { fastCheck: { numRuns: 200 } }
  )

  it.effect.prop(
    "every single-bit mutation of signature, key or message is rejected by both",
    [
      seedArb,
      messageArb,
      fc.constantFrom<Target>("signature", "publicKey", "message"),
      fc.nat({ max: 1023 }),
      fc.integer({ min: 0, max: 7 })
    ],
    ([seed, message, target, position, bit]) =>
      Effect.gen(function* () {
        const { node } = yield* Both
        const keypair = yield* node.keypairFromSeed(seed)
        const item = { publicKey: keypair.publicKey, message, signature: yield* node.sign(keypair, message) }
        expect(yield* bothVerify(mutate(item, target, position, bit))).toEqual([false, false])
      }),
    { fastCheck: { numRuns: 500 } }
  )

  const universeCache: { items?: ReadonlyArray<VerifyItem>; verdicts: Map<VerifyItem, readonly [boolean, boolean]> } = {
    verdicts: new Map()
  }
  const universe = Effect.gen(function* () {
    if (universeCache.items === undefined) universeCache.items = yield* makeUniverse((yield* Both).node)
    return universeCache.items
  })
  /** Per-item verdicts of `verify` on both layers (memoised per distinct item). */
  const perItem = (item: VerifyItem) =>
    Effect.gen(function* () {
      const cached = universeCache.verdicts.get(item)
      if (cached !== undefined) return cached
      const verdicts = yield* bothVerify(item)
      expect(verdicts[0]).toBe(verdicts[1])
      universeCache.verdicts.set(item, verdicts)
      return verdicts
    })

  // Sizes around the inline threshold and the maximum are drawn explicitly, the rest at random.
  const batchArb = fc.oneof(
    fc.array(fc.nat(), { maxLength: 300 }),
    fc.constantFrom(0, 1, 15, 16, 17, 64, 300).chain((n) => fc.array(fc.nat(), { minLength: n, maxLength: n }))
  )

  it.effect.prop(
    "verifyMany on a mixed batch = the per-item verdicts of verify, in order, on both layers",
    [batchArb],
    ([picks]) =>
      Effect.gen(function* () {
        const { node, noble } = yield* Both
        const all = yield* universe
        const items = picks.map((p) => all[p % all.length]!)
        const expected = yield* Effect.forEach(items, perItem)
        const [fromNode, fromNoble] = yield* Effect.all([node.verifyMany(items), noble.verifyMany(items)])
        expect(fromNode).toEqual(expected.map(([v]) => v))
        expect(fromNoble).toEqual(expected.map(([, v]) => v))
        // the batch mixes valid and invalid items whenever it is not tiny
        if (items.length > 50) expect(new Set(fromNode).size).toBe(2)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("every edge case: same verdict on both layers, the strict one", () =>
    Effect.gen(function* () {
      for (const edge of edgeCases()) {
        expect([edge.name, ...(yield* bothVerify(edge.item))]).toEqual([edge.name, edge.expected, edge.expected])
      }
    })
  )

  it.effect.prop(
    "blake2b256 agrees between the layers",
    [fc.uint8Array({ minLength: 0, maxLength: 5000 })],
    ([data]) =>
      Effect.gen(function* () {
        const { node, noble } = yield* Both
        expect(toHex(node.blake2b256(data))).toBe(toHex(noble.blake2b256(data)))
      }),
    { fastCheck: { numRuns: 200 } }
  )

  it.effect("blake2b256 agrees on inputs larger than hash-wasm's internal buffer", () =>
    Effect.gen(function* () {
      const { node, noble } = yield* Both
      for (const size of [16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 65_536 * 3 + 5, 1 << 20]) {
        const data = Uint8Array.from({ length: size }, (_, i) => (i * 131 + (i >> 8)) & 0xff)
        expect(toHex(node.blake2b256(data))).toBe(toHex(noble.blake2b256(data)))
      }
    })
  )
})
