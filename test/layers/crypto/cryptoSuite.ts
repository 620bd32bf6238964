/**
 * The behaviour every `Crypto` layer must have, as one suite run against each layer: RFC 8032 §7.1
 * vectors, the hand-made edge cases (strict, cofactorless verdicts), lengths, Blake2b-256 vectors.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { Crypto } from "../../../src/services/Crypto.js"
import { edgeCases, hex, RFC8032_VECTORS, toHex, utf8 } from "./fixtures.js"

const EDGE_CASES = edgeCases()

/** BLAKE2b-256 known answers. */
export const BLAKE2B_256_VECTORS: ReadonlyArray<{ readonly input: Uint8Array; readonly digest: string }> = [
  { input: new Uint8Array(0), digest: "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8" },
  { input: utf8("abc"), digest: "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319" }
]

/** Runs the shared Crypto suite against `cryptoLayer`. */
export const cryptoSuite = (label: string, cryptoLayer: Layer.Layer<Crypto>) =>
  layer(cryptoLayer)(`Crypto contract (${label})`, (it) => {
    for (const vector of RFC8032_VECTORS) {
      it.effect(`RFC 8032 ${vector.name}: public key, exact signature, verify`, () =>
        Effect.gen(function* () {
          const crypto = yield* Crypto
          const message = hex(vector.message)
          const keypair = yield* crypto.keypairFromSeed(hex(vector.seed))
          expect(toHex(keypair.publicKey)).toBe(vector.publicKey)
          expect(toHex(keypair.seed)).toBe(vector.seed)
          const signature = yield* crypto.sign(keypair, message)
          expect(toHex(signature)).toBe(vector.signature)
          expect(yield* crypto.verify({ publicKey: keypair.publicKey, message, signature })).toBe(true)
          // and not for another message
          const other = message.length === 0 ? new Uint8Array([0]) : message.map((b, i) => (i === 0 ? b ^ 1 : b))
          expect(yield* crypto.verify({ publicKey: keypair.publicKey, message: other, signature })).toBe(false)
        })
      )
    }

    for (const edge of EDGE_CASES) {
      it.effect(`edge case: ${edge.name} → ${edge.expected}`, () =>
        Effect.gen(function* () {
          const crypto = yield* Crypto
          expect(yield* crypto.verify(edge.item)).toBe(edge.expected)
        })
      )
    }

    it.effect("verifyMany over all edge cases gives each expected verdict, in order", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        // Twice over, so that the batch is large enough for a worker pool to take it.
        const items = [...EDGE_CASES, ...EDGE_CASES]
        const verdicts = yield* crypto.verifyMany(items.map((c) => c.item))
        expect(verdicts).toEqual(items.map((c) => c.expected))
        expect(yield* crypto.verifyMany([])).toEqual([])
      })
    )

    it.effect("generateKeypair gives a working key pair", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const keypair = yield* crypto.generateKeypair
        expect(keypair.seed.length).toBe(32)
        expect(keypair.publicKey.length).toBe(32)
        const again = yield* crypto.keypairFromSeed(keypair.seed)
        expect(toHex(again.publicKey)).toBe(toHex(keypair.publicKey))
        const message = utf8("hello")
        const signature = yield* crypto.sign(keypair, message)
        expect(signature.length).toBe(64)
        expect(yield* crypto.verify({ publicKey: keypair.publicKey, message, signature })).toBe(true)
      })
    )

    it.effect("a seed that is not 32 bytes is a defect (a programming error), not a key", () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const exit = yield* Effect.exit(crypto.keypairFromSeed(new Uint8Array(31)))
        expect(exit._tag).toBe("Failure")
      })
    )

    for (const vector of BLAKE2B_256_VECTORS) {
      it.effect(`blake2b256(${JSON.stringify(new TextDecoder().decode(vector.input))}) = ${vector.digest.slice(0, 16)}…`, () =>
        Effect.gen(function* () {
          const crypto = yield* Crypto
          const digest = crypto.blake2b256(vector.input)
          expect(digest).toBeInstanceOf(Uint8Array)
          expect(toHex(digest)).toBe(vector.digest)
          // the result is a fresh array, not a view that the next call overwrites
          crypto.blake2b256(utf8("something else"))
          expect(toHex(digest)).toBe(vector.digest)
        })
      )
    }
  })
