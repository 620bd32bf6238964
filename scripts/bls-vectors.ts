/**
 * Checks BOTH Crypto layers (node = blst, noble) against the published BLS12-381 vectors of
 * ethereum/bls12-381-tests v0.1.2 (min-pk, POP ciphersuite). Run by hand:
 *
 *   npx tsx scripts/bls-vectors.ts [dir]      (npm run vectors; dir defaults to ../shared/vectors/bls)
 *
 * The vectors are not copied into the project: the test suite must pass on a clone that has no
 * ../shared beside it, so the suite tests properties and agreement, and this script the published
 * answers. It prints one summary line per family and exits 1 on any mismatch (2 if no vectors).
 *
 * How each family reaches the layers — through the `Crypto` service wherever it can express it:
 * - sign: `blsSign`; an output of null (secret key 0) must be a defect;
 * - verify: `verifyAggregates`, a key set of that one key, one signer;
 * - fast_aggregate_verify: `verifyAggregates`, the keys as key set, all of them signers;
 * - batch_verify: `verifyAggregates`, one item per set (node: one random-scalar batch on the pool),
 *   the output is true iff every item is;
 * - deserialization_G1: `verifyAggregates` over the key set [K, −K, own key] signed by the own key
 *   alone — K and −K cancel, so the item verifies iff K is a valid key (−K = K with the sort flag
 *   flipped, made bytewise so no library decides it); plus the layer's own key decoder. Both must say
 *   "valid" iff the vector does AND K is not the point at infinity: the vectors accept `c0 00…` as an
 *   encoding, while a key (IETF KeyValidate) never is infinity;
 * - deserialization_G2: the layer's own signature decoder (a verdict cannot ask about a signature
 *   alone), with the same infinity rule;
 * - aggregate_verify, aggregate: direct library calls with the layer's decoders (the service has no
 *   multi-message aggregate and no signature aggregation);
 * - hash_to_G2: noble's hash-to-curve with the vector's DST (QUUX test tag); blst-ts exposes none.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { aggregateSignatures, aggregateVerify, Signature } from "@chainsafe/blst"
import { bls12_381 } from "@noble/curves/bls12-381.js"
import { Effect } from "effect"
import { decodeBlsPublicKey as blstKey, decodeBlsSignature as blstSignature } from "../src/layers/crypto/blsVerify.mjs"
import { BLS_POP_DST, decodeBlsPublicKey as nobleKey, decodeBlsSignature as nobleSignature } from "../src/layers/crypto/nobleBls.js"
import { makeNobleCrypto } from "../src/layers/crypto/NobleCryptoLayer.js"
import { makeNodeCrypto } from "../src/layers/crypto/NodeCryptoLayer.js"
import type { AggregateItem, CryptoService } from "../src/services/Crypto.js"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type Layers = { readonly node: CryptoService; readonly noble: CryptoService }
/** Does the layer match the vector (`null`: the family cannot be run on that layer). */
type Outcome = { readonly node: boolean | null; readonly noble: boolean | null }
type Family = { readonly via: string; readonly run: (input: Json, output: Json, layers: Layers) => Promise<Outcome> }

const HASH_TO_G2_DST = "QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_"

const bytes = (hex: Json): Uint8Array => {
  if (typeof hex !== "string") throw new Error(`expected a hex string, got ${JSON.stringify(hex)}`)
  return Uint8Array.from(Buffer.from(hex.startsWith("0x") ? hex.slice(2) : hex, "hex"))
}
const toHex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`
const field = (input: Json, key: string): Json => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new Error("expected an object")
  return (input as { readonly [key: string]: Json })[key] ?? null
}
const list = (value: Json): ReadonlyArray<Json> => {
  if (!Array.isArray(value)) throw new Error("expected an array")
  return value
}
const isInfinityEncoding = (b: Uint8Array): boolean => b.length > 0 && b[0] === 0xc0 && b.subarray(1).every((x) => x === 0)

const run = <A>(effect: Effect.Effect<A>): Promise<A> => Effect.runPromise(effect)
/** Runs `f` on both layers. */
const onBoth = async (layers: Layers, f: (crypto: CryptoService) => Promise<boolean>): Promise<Outcome> => ({
  node: await f(layers.node),
  noble: await f(layers.noble)
})
const allSigners = (n: number): Uint8Array => {
  const bitmap = new Uint8Array(Math.ceil(n / 8))
  for (let i = 0; i < n; i++) bitmap[i >> 3]! |= 1 << (i & 7)
  return bitmap
}
let nextId = 0
/** A key set with a fresh id: vectors must not share cache entries by accident. */
const keySetOf = (keys: ReadonlyArray<Uint8Array>) => ({ id: `vector-${nextId++}`, keys })

const verdictsOf = (crypto: CryptoService, items: ReadonlyArray<AggregateItem>) => run(crypto.verifyAggregates(items))

const families: Record<string, Family> = {
  sign: {
    via: "service blsSign",
    run: (input, output, layers) =>
      onBoth(layers, async (crypto) => {
        const secretKey = bytes(field(input, "privkey"))
        const exit = await run(Effect.exit(crypto.blsSign({ secretKey, publicKey: new Uint8Array(48) }, bytes(field(input, "message")))))
        if (output === null) return exit._tag === "Failure"
        return exit._tag === "Success" && toHex(exit.value) === toHex(bytes(output))
      })
  },
  verify: {
    via: "service verifyAggregates (1 key)",
    run: (input, output, layers) =>
      onBoth(layers, async (crypto) => {
        const item = {
          keySet: keySetOf([bytes(field(input, "pubkey"))]),
          signers: Uint8Array.of(1),
          message: bytes(field(input, "message")),
          signature: bytes(field(input, "signature"))
        }
        return (await verdictsOf(crypto, [item]))[0] === output
      })
  },
  fast_aggregate_verify: {
    via: "service verifyAggregates (all keys sign)",
    run: (input, output, layers) =>
      onBoth(layers, async (crypto) => {
        const keys = list(field(input, "pubkeys")).map(bytes)
        const item = {
          keySet: keySetOf(keys),
          signers: allSigners(keys.length),
          message: bytes(field(input, "message")),
          signature: bytes(field(input, "signature"))
        }
        return (await verdictsOf(crypto, [item]))[0] === output
      })
  },
  batch_verify: {
    via: "service verifyAggregates (1 item per set)",
    run: (input, output, layers) =>
      onBoth(layers, async (crypto) => {
        const keys = list(field(input, "pubkeys")).map(bytes)
        const messages = list(field(input, "messages")).map(bytes)
        const signatures = list(field(input, "signatures")).map(bytes)
        const items = keys.map((key, i) => ({
          keySet: keySetOf([key]),
          signers: Uint8Array.of(1),
          message: messages[i]!,
          signature: signatures[i]!
        }))
        const verdicts = await verdictsOf(crypto, items)
        return (items.length > 0 && verdicts.every((v) => v)) === output
      })
  },
  deserialization_G1: {
    via: "service verifyAggregates ([K, −K, own key]) + layer decoder",
    run: async (input, output, layers) => {
      const key = bytes(field(input, "pubkey"))
      const expected = output === true && !isInfinityEncoding(key)
      const negated = Uint8Array.from(key)
      if (negated.length > 0) negated[0]! ^= 0x20 // the sort flag: (x, y) → (x, −y)
      const viaService = async (crypto: CryptoService) => {
        const own = await run(crypto.blsKeypairFromSeed(new Uint8Array(32).fill(0x42)))
        const message = Uint8Array.of(1, 2, 3)
        const item = {
          keySet: keySetOf([key, negated, own.publicKey]),
          signers: Uint8Array.of(0b111),
          message,
          signature: await run(crypto.blsSign(own, message))
        }
        return (await verdictsOf(crypto, [item]))[0] === expected
      }
      return {
        node: (await viaService(layers.node)) && (blstKey(key) !== null) === expected,
        noble: (await viaService(layers.noble)) && (nobleKey(key) !== null) === expected
      }
    }
  },
  deserialization_G2: {
    via: "layer signature decoder",
    run: async (input, output) => {
      const signature = bytes(field(input, "signature"))
      const expected = output === true && !isInfinityEncoding(signature)
      return { node: (blstSignature(signature) !== null) === expected, noble: (nobleSignature(signature) !== null) === expected }
    }
  },
  aggregate_verify: {
    via: "library call with the layer decoders",
    run: async (input, output) => {
      const keys = list(field(input, "pubkeys")).map(bytes)
      const messages = list(field(input, "messages")).map(bytes)
      const signature = bytes(field(input, "signature"))
      const wellFormed = keys.length > 0 && keys.length === messages.length
      const node = (() => {
        const pks = keys.map(blstKey)
        const sig = blstSignature(signature)
        if (!wellFormed || sig === null || pks.some((pk) => pk === null)) return false
        return aggregateVerify(messages, pks.flatMap((pk) => (pk === null ? [] : [pk])), sig, false, false)
      })()
      const noble = (() => {
        const pks = keys.map(nobleKey)
        const sig = nobleSignature(signature)
        if (!wellFormed || sig === null) return false
        const items = []
        for (let i = 0; i < pks.length; i++) {
          const publicKey = pks[i]
          if (publicKey === null || publicKey === undefined) return false
          items.push({ publicKey, message: bls12_381.longSignatures.hash(messages[i]!, BLS_POP_DST) })
        }
        return bls12_381.longSignatures.verifyBatch(sig, items)
      })()
      return { node: node === output, noble: noble === output }
    }
  },
  aggregate: {
    via: "library call (subgroup-checked inputs)",
    run: async (input, output) => {
      const signatures = list(input).map(bytes)
      const attempt = (f: () => Uint8Array): string | null => {
        try {
          return signatures.length === 0 ? null : toHex(f())
        } catch {
          return null
        }
      }
      const expected = output === null ? null : toHex(bytes(output))
      const node = attempt(() => aggregateSignatures(signatures.map((s) => Signature.fromBytes(s, true, false))).toBytes())
      const noble = attempt(() =>
        bls12_381.longSignatures.Signature.toBytes(
          bls12_381.longSignatures.aggregateSignatures(signatures.map((s) => bls12_381.longSignatures.Signature.fromBytes(s)))
        )
      )
      return { node: node === expected, noble: noble === expected }
    }
  },
  hash_to_G2: {
    via: "noble hash-to-curve (blst-ts has none)",
    run: async (input, output) => {
      const point = bls12_381.G2.hashToCurve(new TextEncoder().encode(String(field(input, "msg"))), { DST: HASH_TO_G2_DST }).toAffine()
      const pair = (value: Json) => String(value).split(",").map((h) => BigInt(h))
      const [x0, x1] = pair(field(output, "x"))
      const [y0, y1] = pair(field(output, "y"))
      return { node: null, noble: point.x.c0 === x0 && point.x.c1 === x1 && point.y.c0 === y0 && point.y.c1 === y1 }
    }
  }
}

/** Runs every family found under `dir`; returns the exit code. */
const check = async (dir: string, layers: Layers): Promise<number> => {
  let mismatches = 0
  let files = 0
  for (const [name, family] of Object.entries(families)) {
    let entries: Array<string>
    try {
      entries = readdirSync(join(dir, name)).filter((f) => f.endsWith(".json")).sort()
    } catch {
      console.log(`${name.padEnd(22)} no vectors in ${join(dir, name)}`)
      continue
    }
    const passed = { node: 0, noble: 0 }
    let applicable = { node: 0, noble: 0 }
    for (const file of entries) {
      const { input, output } = JSON.parse(readFileSync(join(dir, name, file), "utf8")) as { input: Json; output: Json }
      const outcome = await family.run(input, output, layers)
      for (const layer of ["node", "noble"] as const) {
        if (outcome[layer] === null) continue
        applicable = { ...applicable, [layer]: applicable[layer] + 1 }
        if (outcome[layer]) passed[layer]++
        else {
          mismatches++
          console.log(`  MISMATCH ${layer}: ${name}/${file}`)
        }
      }
    }
    files += entries.length
    const score = (layer: "node" | "noble") => (applicable[layer] === 0 ? "n/a" : `${passed[layer]}/${applicable[layer]}`)
    console.log(`${name.padEnd(22)} ${String(entries.length).padStart(3)} files  node ${score("node").padEnd(6)} noble ${score("noble").padEnd(6)} via ${family.via}`)
  }
  console.log(files === 0 ? `no vectors under ${dir}` : `${files} files, ${mismatches} mismatch(es)`)
  return files === 0 ? 2 : mismatches === 0 ? 0 : 1
}

const dir = resolve(process.argv[2] ?? "../shared/vectors/bls")
// The node layer's worker pool lives as long as this scope: the whole run.
process.exitCode = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const layers = yield* Effect.all({ node: makeNodeCrypto(), noble: makeNobleCrypto })
      return yield* Effect.promise(() => check(dir, layers))
    })
  )
)
