/**
 * The crypto benchmark: Ed25519 verify throughput of every path the node can take (noble, native on
 * one thread, the worker pool, and the libuv-callback alternative), certificate verification as BLS
 * aggregates versus 67 Ed25519 signatures (certificates.ts), and Blake2b-256 throughput of both
 * libraries. Each figure is the median of 3 short runs (~0.8 s each, after a warm-up).
 */
import { cpus } from "node:os"
import { performance } from "node:perf_hooks"
import { blake2b } from "@noble/hashes/blake2.js"
import { Effect } from "effect"
import { createBLAKE2b } from "hash-wasm"
import { nobleVerifyStrict } from "../../layers/crypto/NobleCryptoLayer.js"
import {
  makeNodeCrypto,
  nativeVerify,
  nativeVerifyOnThreadPool
} from "../../layers/crypto/NodeCryptoLayer.js"
import { makeVerifyPool } from "../../layers/crypto/verifyPool.js"
import type { VerifyItem } from "../../services/Crypto.js"
import { measureBlockDecodePerSec } from "./blockDecode.js"
import { type CertificateBenchResult, measureCertificates } from "./certificates.js"

/**
 * What `runCryptoBench` measures. Rates are per second; `poolSpeedup` = pool / native single thread;
 * the certificate figures (`blsCertificatesPerSec`, `ed25519MultisigCertificatesPerSec`, ...) are
 * described in certificates.ts.
 */
export interface CryptoBenchResult extends CertificateBenchResult {
  readonly nobleVerifyPerSec: number
  readonly nativeVerifyPerSec: number
  readonly poolVerifyPerSec: number
  readonly poolSpeedup: number
  /** The rejected alternative: callback `crypto.verify` on libuv's thread pool, whole batch in flight. */
  readonly libuvVerifyPerSec: number
  /** Event-loop utilisation of the main thread while the pool / libuv path verifies (0..1). */
  readonly poolMainThreadBusy: number
  readonly libuvMainThreadBusy: number
  /** Blake2b-256 of 1 MiB buffers with the faster library (the one `NodeCryptoLayer` uses). */
  readonly blake2bMBPerSec: number
  readonly blake2bHashWasmMBPerSec: number
  readonly blake2bNobleMBPerSec: number
  /** From `blockDecode.ts`; `null` until that measurement exists. */
  readonly blockDecodePerSec: number | null
  readonly workers: number
  /**
   * CPU used by *other* processes during the bench, in cores (0..cores). Anything well above 0 means
   * the figures are depressed by contention — on a shared 2-core machine, re-run when it is idle.
   */
  readonly otherProcessesCores: number
}

const RUN_MS = 800
const WARMUP_MS = 400 // ≥ 1 pool batch: the workers' first batch runs ~35% slow (JIT)
const BATCH = 4096
/** intent (3 bytes) ‖ Blake2b-256 digest: what blocks, certificates and epoch changes sign. */
const MESSAGE_LENGTH = 35

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/** Runs `step` (which reports how many operations it did) for `ms`; returns operations per second. */
const rate = async (ms: number, step: () => number | Promise<number>): Promise<number> => {
  const start = performance.now()
  let ops = 0
  while (performance.now() - start < ms) ops += await step()
  return ops / ((performance.now() - start) / 1000)
}

/** Warm-up, then the median of 3 runs. */
const measure = async (step: () => number | Promise<number>): Promise<number> => {
  await rate(WARMUP_MS, step)
  const runs: Array<number> = []
  for (let i = 0; i < 3; i++) runs.push(await rate(RUN_MS, step))
  return median(runs)
}

/** Like `measure`, also reporting the main thread's event-loop utilisation during the runs. */
const measureWithLoopUse = async (step: () => number | Promise<number>) => {
  await rate(WARMUP_MS, step)
  const before = performance.eventLoopUtilization()
  const runs: Array<number> = []
  for (let i = 0; i < 3; i++) runs.push(await rate(RUN_MS, step))
  const used = performance.eventLoopUtilization(before)
  return { perSec: median(runs), mainThreadBusy: used.utilization }
}

/** Busy CPU time of the whole machine so far, in ms (all cores, all processes). */
const machineBusyMs = (): number =>
  cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)

/** `BATCH` valid items, each by a distinct key (no key-import caching can help). */
const makeItems = Effect.gen(function* () {
  const crypto = yield* makeNodeCrypto({ pool: { size: 1 } })
  const items: Array<VerifyItem> = []
  for (let i = 0; i < BATCH; i++) {
    const keypair = yield* crypto.generateKeypair
    const message = new Uint8Array(MESSAGE_LENGTH) // intent [0, 0, 0] ‖ digest
    message.set(crypto.blake2b256(Uint8Array.of(i & 0xff, i >> 8)), 3)
    items.push({ publicKey: keypair.publicKey, message, signature: yield* crypto.sign(keypair, message) })
  }
  return items
}).pipe(Effect.scoped)

/** Measures everything; takes ~50 s on the 2-core reference machine. */
export const runCryptoBench = async (): Promise<CryptoBenchResult> => {
  const machineStart = machineBusyMs()
  const ownStart = process.cpuUsage()
  const wallStart = performance.now()
  const items = await Effect.runPromise(makeItems)
  let cursor = 0
  const next = () => {
    cursor = (cursor + 1) % items.length
    return items[cursor]!
  }
  const assertValid = (ok: boolean) => {
    if (!ok) throw new Error("benchmark item failed to verify")
  }

  const nobleVerifyPerSec = await measure(() => {
    for (let i = 0; i < 16; i++) assertValid(nobleVerifyStrict(next()))
    return 16
  })
  const nativeVerifyPerSec = await measure(() => {
    for (let i = 0; i < 64; i++) assertValid(nativeVerify(next()))
    return 64
  })

  const pool = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const verifyPool = yield* makeVerifyPool()
        const measured = yield* Effect.promise(() =>
          measureWithLoopUse(async () => {
            const verdicts = await Effect.runPromise(verifyPool.verifyMany(items))
            verdicts.forEach(assertValid)
            return items.length
          })
        )
        return { ...measured, workers: verifyPool.size }
      })
    )
  )

  const libuv = await measureWithLoopUse(async () => {
    const verdicts = await Promise.all(items.map(nativeVerifyOnThreadPool))
    verdicts.forEach(assertValid)
    return items.length
  })

  const MiB = 1 << 20
  const buffer = new Uint8Array(MiB).map((_, i) => (i * 131 + (i >> 9)) & 0xff)
  const hasher = await createBLAKE2b(256)
  const blake2bHashWasmMBPerSec = ((await measure(() => (hasher.init().update(buffer).digest("binary"), 1))) * MiB) / 1e6
  const blake2bNobleMBPerSec = ((await measure(() => (blake2b(buffer, { dkLen: 32 }), 1))) * MiB) / 1e6

  const certificates = await measureCertificates(measure)
  const blockDecodePerSec = await measureBlockDecodePerSec()
  const own = process.cpuUsage(ownStart)
  const otherMs = machineBusyMs() - machineStart - (own.user + own.system) / 1000
  const otherProcessesCores = Math.max(0, otherMs / (performance.now() - wallStart))

  return {
    nobleVerifyPerSec,
    nativeVerifyPerSec,
    poolVerifyPerSec: pool.perSec,
    poolSpeedup: pool.perSec / nativeVerifyPerSec,
    libuvVerifyPerSec: libuv.perSec,
    poolMainThreadBusy: pool.mainThreadBusy,
    libuvMainThreadBusy: libuv.mainThreadBusy,
    blake2bMBPerSec: Math.max(blake2bHashWasmMBPerSec, blake2bNobleMBPerSec),
    blake2bHashWasmMBPerSec,
    blake2bNobleMBPerSec,
    blockDecodePerSec,
    workers: pool.workers,
    otherProcessesCores,
    ...certificates
  }
}
