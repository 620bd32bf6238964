/**
 * Certificate verification for the crypto benchmark: a certificate of 67 signers out of a 100-key
 * committee (quorum at the reference scale), checked
 * - as ONE BLS12-381 aggregate signature (the design): `verifyAggregates` on the worker pool, in
 *   batches of a few hundred, each certificate over its own message and by its own random signer set;
 * - as 67 Ed25519 signatures (the old multisig design): `verifyMany` on the same pool;
 * plus the figures that explain the BLS cost — one-thread batch verification per certificate, public
 * key aggregation, the aggregated-key cache, inline versus pool latency for a lone certificate — and
 * noble's BLS for scale.
 */
import { aggregatePublicKeys, PublicKey, SecretKey } from "@chainsafe/blst"
import { blake2b } from "@noble/hashes/blake2.js"
import { Effect } from "effect"
import { verifyBlsChunk } from "../../layers/crypto/blsVerify.mjs"
import { packBlsChunk } from "../../layers/crypto/chunkFormat.js"
import { nobleVerifyAggregate } from "../../layers/crypto/nobleBls.js"
import { blsKeypairFromSeedSync, keypairFromSeedSync, makeNodeCrypto } from "../../layers/crypto/NodeCryptoLayer.js"
import type { AggregateItem, BlsKeySet, CryptoService, VerifyItem } from "../../services/Crypto.js"

/** What `measureCertificates` measures; rates per second, latencies and costs in ms. */
export interface CertificateBenchResult {
  /** BLS certificates on the pool, aggregated-key cache missing (random signer sets). */
  readonly blsCertificatesPerSec: number
  /** The same certificates again with their aggregated keys cached: what aggregation costs. */
  readonly blsCertificatesCachedPerSec: number
  /** 67 Ed25519 signatures per certificate, `verifyMany` on the pool. */
  readonly ed25519MultisigCertificatesPerSec: number
  /**
   * One JS thread, batches of BLS_BATCH, cache missing: decoding, aggregation and the batched pairing
   * (blst itself still runs the pairing on every core: its own thread pool).
   */
  readonly blsBatchMsPerCertificate: number
  /** `aggregatePublicKeys` of 67 decoded keys, one thread. */
  readonly blsAggregationMsPerCertificate: number
  /** Latency of `verifyAggregates` with one certificate (aggregated key cached): inline, and on the pool. */
  readonly blsSingleInlineMs: number
  readonly blsSinglePoolMs: number
  /** noble, one thread, one certificate at a time (key set decoded once). */
  readonly nobleBlsCertificatesPerSec: number
}

/** `crypto.ts`'s measurement: warm-up, then the median of 3 runs; `step` reports operations done. */
export type Measure = (step: () => number | Promise<number>) => Promise<number>

const COMMITTEE = 100
const SIGNERS = 67
/** "A few hundred": the certificates a node has in hand when it verifies a synced range. */
const BLS_BATCH = 256
/**
 * Distinct BLS certificates. One pass over them per key-set id; the worker caches ≤ 4,096 aggregated
 * keys, so without a fresh id per pass every certificate would hit after the first pass.
 */
const BLS_CERTIFICATES = 2048
/** Ed25519 certificates per `verifyMany` call: 64 × 67 = 4,288 signatures, like crypto.ts's batches. */
const ED25519_BATCH = 64
const R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n

/** Seeded PRNG (mulberry32): the same certificates on every run. */
const prng = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** `SIGNERS` distinct indices out of `COMMITTEE` (a partial Fisher–Yates shuffle). */
const randomSigners = (random: () => number): ReadonlyArray<number> => {
  const indices = [...Array(COMMITTEE).keys()]
  for (let i = 0; i < SIGNERS; i++) {
    const j = i + Math.floor(random() * (COMMITTEE - i))
    ;[indices[i], indices[j]] = [indices[j]!, indices[i]!]
  }
  return indices.slice(0, SIGNERS).sort((a, b) => a - b)
}

/** intent (3 bytes) ‖ a 32-byte digest: the shape of what an authority signs. */
const messageOf = (i: number): Uint8Array => {
  const message = new Uint8Array(35)
  message.set(blake2b(Uint8Array.of(i & 0xff, i >> 8, 0xce), { dkLen: 32 }), 3)
  return message
}

const bigIntOf = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString("hex")}`)
const bytesOf = (n: bigint): Uint8Array => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, "0"), "hex"))

/**
 * BLS certificates without the signing bill: the aggregate of the signers' signatures Σ skᵢ·H(m) is
 * the one signature (Σ skᵢ)·H(m), so each certificate costs one signing, not 67.
 */
const blsCertificates = () => {
  const keypairs = Array.from({ length: COMMITTEE }, (_, i) => blsKeypairFromSeedSync(new Uint8Array(32).fill(i + 1)))
  const secretKeys = keypairs.map((k) => bigIntOf(k.secretKey))
  const keys = keypairs.map((k) => k.publicKey)
  const random = prng(7)
  const certificates = Array.from({ length: BLS_CERTIFICATES }, (_, c) => {
    const signers = randomSigners(random)
    const bitmap = new Uint8Array(Math.ceil(COMMITTEE / 8))
    for (const i of signers) bitmap[i >> 3]! |= 1 << (i & 7)
    const message = messageOf(c)
    const sum = signers.reduce((acc, i) => (acc + secretKeys[i]!) % R, 0n)
    return { signers, bitmap, message, signature: SecretKey.fromBytes(bytesOf(sum)).sign(message).toBytes() }
  })
  return { keys, certificates }
}

/** Ed25519 certificates: 67 signatures each, by random signer sets, each over its certificate's message. */
const ed25519Certificates = (crypto: CryptoService) =>
  Effect.gen(function* () {
    const keypairs = Array.from({ length: COMMITTEE }, (_, i) => keypairFromSeedSync(new Uint8Array(32).fill(i + 1)))
    const random = prng(11)
    const items: Array<VerifyItem> = []
    for (let c = 0; c < ED25519_BATCH; c++) {
      const message = messageOf(c)
      for (const i of randomSigners(random)) {
        const keypair = keypairs[i]!
        items.push({ publicKey: keypair.publicKey, message, signature: yield* crypto.sign(keypair, message) })
      }
    }
    return items
  })

const assertAllValid = (verdicts: ReadonlyArray<boolean> | Uint8Array) => {
  for (const v of verdicts) if (v !== true && v !== 1) throw new Error("a benchmark certificate failed to verify")
}

/** Measures every certificate figure; ≈ 25 s on the 2-core reference machine (setup ≈ 1.5 s). */
export const measureCertificates = (measure: Measure): Promise<CertificateBenchResult> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        // Everything on the pool (one worker per core), even a lone certificate; and, for the latency
        // comparison, the same layer with the inline path for one certificate.
        const pooled = yield* makeNodeCrypto({ blsInlineBelow: 0 })
        const inline = yield* makeNodeCrypto({ blsInlineBelow: 2, pool: { size: 1 } })
        const { keys, certificates } = blsCertificates()
        const edItems = yield* ed25519Certificates(pooled)

        /** Batches of the certificates under key-set ids from `idOf(pass)`, cycling. */
        const batches = (idOf: (pass: number) => string) => {
          let cursor = 0
          let pass = 0
          let keySet: BlsKeySet = { id: idOf(0), keys }
          return (size: number): ReadonlyArray<AggregateItem> => {
            if (cursor + size > certificates.length) {
              cursor = 0
              pass++
              keySet = { id: idOf(pass), keys }
            }
            const batch = certificates
              .slice(cursor, cursor + size)
              .map((c) => ({ keySet, signers: c.bitmap, message: c.message, signature: c.signature }))
            cursor += size
            return batch
          }
        }
        const run = <A>(effect: Effect.Effect<A>) => Effect.runPromise(effect)

        // Random signer sets, as real certificates have: every pass a fresh id, so every aggregated key misses.
        const missing = batches((pass) => `bench-miss-${pass}`)
        const blsCertificatesPerSec = yield* Effect.promise(() =>
          measure(async () => (assertAllValid(await run(pooled.verifyAggregates(missing(BLS_BATCH)))), BLS_BATCH))
        )
        const cached = batches(() => "bench-cached")
        const blsCertificatesCachedPerSec = yield* Effect.promise(() =>
          measure(async () => (assertAllValid(await run(pooled.verifyAggregates(cached(BLS_BATCH)))), BLS_BATCH))
        )
        const ed25519MultisigCertificatesPerSec = yield* Effect.promise(() =>
          measure(async () => (assertAllValid(await run(pooled.verifyMany(edItems))), ED25519_BATCH))
        )

        const oneThread = batches((pass) => `bench-thread-${pass}`)
        const blsBatchPerSec = yield* Effect.promise(() =>
          measure(() => {
            const batch = oneThread(BLS_BATCH)
            assertAllValid(verifyBlsChunk(packBlsChunk(batch, 0, batch.length)))
            return BLS_BATCH
          })
        )
        const decoded = keys.map((k) => PublicKey.fromBytes(k, true))
        let a = 0
        const aggregationsPerSec = yield* Effect.promise(() =>
          measure(() => {
            for (let i = 0; i < 64; i++) aggregatePublicKeys(certificates[a++ % certificates.length]!.signers.map((s) => decoded[s]!), false)
            return 64
          })
        )

        const single = batches(() => "bench-single")
        const inlinePerSec = yield* Effect.promise(() =>
          measure(async () => (assertAllValid(await run(inline.verifyAggregates(single(1)))), 1))
        )
        const poolSinglePerSec = yield* Effect.promise(() =>
          measure(async () => (assertAllValid(await run(pooled.verifyAggregates(single(1)))), 1))
        )
        const nobleBlsCertificatesPerSec = yield* Effect.promise(() =>
          measure(() => {
            const [item] = single(1)
            if (item === undefined || !nobleVerifyAggregate(item)) throw new Error("noble rejected a benchmark certificate")
            return 1
          })
        )
        return {
          blsCertificatesPerSec,
          blsCertificatesCachedPerSec,
          ed25519MultisigCertificatesPerSec,
          blsBatchMsPerCertificate: 1000 / blsBatchPerSec,
          blsAggregationMsPerCertificate: 1000 / aggregationsPerSec,
          blsSingleInlineMs: 1000 / inlinePerSec,
          blsSinglePoolMs: 1000 / poolSinglePerSec,
          nobleBlsCertificatesPerSec
        }
      })
    )
  )
