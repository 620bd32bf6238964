/**
 * The sync benchmark (the project's headline number): over real gRPC on loopback with authentication
 * and LMDB, a fresh node syncs a chain from 3 serving nodes — 10 equal-stake validators, 10 certified
 * transactions per block, one epoch change. The same run measures the raw `verifyMany` rate of the
 * worker pool (the physical limit of sync on this machine) and syncs the chain once more the way the
 * original module did (one range of ≤ 100 commits in flight, one request at a time) as a baseline.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { Effect, Either } from "effect"
import { ZERO_DIGEST } from "../../domain/primitives.js"
import { ChainGenerator, type ChainConfig, type GeneratedCommit } from "../../domain/testkit/chain.js"
import { deriveSeed, TestSigner } from "../../domain/testkit/keys.js"
import { decodeCertifiedTransaction } from "../../domain/transaction.js"
import { makeNodeCrypto } from "../../layers/crypto/NodeCryptoLayer.js"
import type { SyncPlanConfig } from "../../layers/sync/syncPlan.js"
import type { VerifyItem } from "../../services/Crypto.js"
import { startServingNodes } from "../syncNode.js"

/** What `runSyncBench` reports. */
export interface SyncBenchResult {
  readonly commits: number
  readonly blocks: number
  readonly transactions: number
  readonly signatures: number
  readonly seconds: number
  readonly commitsPerSec: number
  readonly signaturesPerSec: number
  readonly verifyLimitPerSec: number
  readonly ratio: number
  readonly baselineCommitsPerSec: number
  readonly speedupOverBaseline: number
  /** Peak resident memory of the syncing node's process. */
  readonly peakRssMB: number
}

const VALIDATORS = 10
const TRANSACTIONS_PER_BLOCK = 10
/** About 20 s of verification work on this 2-core machine (≈ 80 signatures per block, ≈ 10 blocks per commit). */
const DEFAULT_COMMITS = 250
const VERIFY_LIMIT_BATCH = 4_096
const VERIFY_LIMIT_MS = 3_000
/** The original module: one range of ≤ 100 commits, one request at a time. */
const BASELINE: SyncPlanConfig = { window: 1, blockChunksInFlight: 1, maxRequestsPerPeer: 1, maxBlocksHeld: Number.MAX_SAFE_INTEGER }

/** Signatures a syncing node checks for the chain's blocks (block + each sender + each certificate + epoch change). */
const countSignatures = (chain: ReadonlyArray<GeneratedCommit>) => {
  let blocks = 0
  let transactions = 0
  let signatures = 0
  for (const c of chain) {
    for (const b of c.subDag.blocks) {
      blocks++
      signatures += 1 + (b.signed.block.endOfEpoch?.signatures.length ?? 0)
      for (const bytes of b.signed.block.transactions) {
        transactions++
        const tx = decodeCertifiedTransaction(bytes)
        if (Either.isRight(tx)) signatures += 1 + tx.right.signatures.length
      }
    }
  }
  return { blocks, transactions, signatures }
}

/** The worker pool's raw rate on batches like the ones sync submits. */
const measureVerifyLimit = Effect.scoped(
  Effect.gen(function* () {
    const crypto = yield* makeNodeCrypto()
    const signers = Array.from({ length: 16 }, (_, i) => new TestSigner(deriveSeed("bench-verify", i)))
    const items: Array<VerifyItem> = Array.from({ length: VERIFY_LIMIT_BATCH }, (_, i) => {
      const signer = signers[i % signers.length] as TestSigner
      const message = deriveSeed("bench-message", i).subarray(0, 32)
      return { publicKey: signer.publicKey, message, signature: signer.sign(message) }
    })
    yield* crypto.verifyMany(items) // warm-up
    const start = performance.now()
    let verified = 0
    while (performance.now() - start < VERIFY_LIMIT_MS) {
      yield* crypto.verifyMany(items)
      verified += items.length
    }
    return verified / ((performance.now() - start) / 1000)
  })
)

const freshNodeScript = join(import.meta.dirname, "syncFreshNode.ts")
/** Old-space limit of the syncing node's process (MiB). */
const FRESH_NODE_HEAP_MB = 384

/** Runs the syncing node in its own process; resolves with its sync time and peak RSS. */
const runFreshNode = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly seconds: number; readonly peakRssMB: number }>((resolve, reject) => {
    // A bounded heap, as an operator would run a node: V8 otherwise lets garbage from ~1M verified
    // signatures pile up towards its multi-GiB default limit before collecting, and RSS would follow.
    const child = spawn(process.execPath, [`--max-old-space-size=${FRESH_NODE_HEAP_MB}`, "--import", "tsx", freshNodeScript, ...args], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.on("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? ""
      if (code === 0) resolve(JSON.parse(line) as { seconds: number; peakRssMB: number })
      else reject(new Error(`the syncing node exited with ${code}: ${out.slice(-500)}`))
    })
  })

/** Runs the benchmark; `commits` sets the chain length. */
export const runSyncBench = async (commits = DEFAULT_COMMITS): Promise<SyncBenchResult> => {
  const dir = mkdtempSync(join(tmpdir(), "soma-sync-bench-"))
  try {
    const chainConfig: ChainConfig = { seed: 1, validators: VALIDATORS, commitsPerEpoch: Math.ceil(commits / 2), transactionsPerBlock: TRANSACTIONS_PER_BLOCK }
    const generator = new ChainGenerator(chainConfig)
    const chain = generator.take(commits)
    const counts = countSignatures(chain)
    const start = { commitRef: { index: 0, digest: ZERO_DIGEST }, committee: generator.committee(0) }

    const program = Effect.scoped(
      Effect.gen(function* () {
        const verifyLimitPerSec = yield* measureVerifyLimit
        const servers = (yield* startServingNodes({ count: 3, label: "bench-server", dir, chain, start })).map((s) => ({ peerId: s.peerId, address: s.address }))
        const syncOnce = (name: string, plan: Partial<SyncPlanConfig>) =>
          Effect.promise(() => runFreshNode([join(dir, name), JSON.stringify(servers), JSON.stringify(chainConfig), String(commits), JSON.stringify(plan)]))
        const main = yield* syncOnce("fresh", {})
        const baseline = yield* syncOnce("baseline", BASELINE)
        return { verifyLimitPerSec, seconds: main.seconds, peakRssMB: main.peakRssMB, baselineSeconds: baseline.seconds }
      })
    )
    const { verifyLimitPerSec, seconds, peakRssMB, baselineSeconds } = await Effect.runPromise(program)
    const signaturesPerSec = counts.signatures / seconds
    const commitsPerSec = commits / seconds
    const baselineCommitsPerSec = commits / baselineSeconds
    return {
      commits,
      ...counts,
      seconds,
      commitsPerSec,
      signaturesPerSec,
      verifyLimitPerSec,
      ratio: signaturesPerSec / verifyLimitPerSec,
      baselineCommitsPerSec,
      speedupOverBaseline: commitsPerSec / baselineCommitsPerSec,
      peakRssMB
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
