/**
 * The sync benchmark (the project's headline number), on the node as shipped: 3 serving nodes and a
 * fresh full node, each wired by `P2pBuilder.p2pLayer` from its own `NodeConfig` (real gRPC with mutual
 * TLS on loopback, LMDB, the P2P server's limits, PeerManager and discovery). The serving nodes take the
 * chain through the validator path (`StateSync.sendCommit`); the fresh node knows them only as seed
 * peers and runs in its own process (`syncFreshNode.ts`), so its time and peak memory are its own.
 *
 * The chain: `--validators N` (default 10) equal-stake validators, 10 certified transactions per block,
 * one epoch change in the middle; read from the on-disk chain cache (`chainCache.ts`), generated on the
 * first run only.
 *
 * The same run measures the machine's limit: the same verifier (VerifierLayer on NodeCryptoLayer) verifies
 * the same chain range by range the way sync does — the commit range check, the certifiers of its last
 * commit, then its blocks in chunks of ≤ 1,000 — with no network and no store, two calls in flight so the
 * main thread prepares one batch while the workers verify another. `ratio` = that time ÷ the sync time.
 *
 * And the original module's strategy (`baselineSync.ts`: one range of ≤ 100 commits at a time from one
 * peer, fetch then verify, one thread) syncs the same chain from the same servers over the same links,
 * in its own process: `speedupOverBaseline` = its time ÷ ours.
 *
 * `--profile` (DESIGN.md §10): `loopback` (default) connects straight to the servers; `wan` puts each
 * server behind its own emulated link (`testkit/link`, a relay process: 50 ms one-way delay, 100 Mbit/s
 * per direction), whose address is all the syncing nodes know — the bench checks that the chain's bytes
 * really crossed the links.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { availableParallelism, cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { Context, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { toHex } from "../../domain/bytes.js"
import type { Committee } from "../../domain/committee.js"
import { encodeBcs } from "../../domain/codec.js"
import { BlockRefBcs } from "../../domain/refs.js"
import { cachedCommits } from "../../testkit/chainCache.js"
import { ChainGenerator, type ChainConfig, type GeneratedCommit } from "../../testkit/chain.js"
import { deriveSeed, TestSigner } from "../../testkit/keys.js"
import { linkResource, type Link, type LinkConditions } from "../../testkit/link/link.js"
import { NodeCryptoLayer } from "../../layers/crypto/NodeCryptoLayer.js"
import { MAX_BLOCKS_PER_FETCH, MAX_COMMITS_PER_RANGE } from "../../layers/sync/constants.js"
import { VerifierLayer } from "../../layers/verifier/VerifierLayer.js"
import { StateSync } from "../../services/StateSync.js"
import { Verifier, type BlockToVerify, type VerifierService } from "../../services/Verifier.js"
import { encodeNodeConfig, type NodeConfig } from "../node/NodeConfig.js"
import { configPeerId, p2pLayer } from "../node/P2pBuilder.js"
import type { MemoryPeaks } from "./memory.js"
import { freePorts } from "../../testkit/ports.js"

/** Network conditions between the syncing node and each server. */
export type SyncProfile = "loopback" | "wan"

/** Each profile's link conditions (`undefined`: no link, straight to the server). */
export const SYNC_PROFILES: Readonly<Record<SyncProfile, LinkConditions | undefined>> = {
  loopback: undefined,
  // DESIGN.md §10's WAN: 100 ms RTT, 100 Mbit/s per peer and direction.
  wan: { oneWayDelayMs: 50, bandwidthBitsPerSec: 100_000_000 }
}

/** What `runSyncBench` reports. */
export interface SyncBenchResult {
  readonly profile: SyncProfile
  readonly validators: number
  readonly commits: number
  readonly blocks: number
  readonly transactions: number
  /** From the fresh node's first connection to its last commit delivered. */
  readonly seconds: number
  readonly transactionsPerSec: number
  /** The same verifier on the same chain, no network, no store (this run). */
  readonly offlineVerifySeconds: number
  /** offlineVerifySeconds ÷ seconds: the share of the machine's verification limit that sync reaches. */
  readonly ratio: number
  /** The original module's strategy on the same chain, servers and links (null: not run). */
  readonly baselineSeconds: number | null
  /** baselineSeconds ÷ seconds. */
  readonly speedupOverBaseline: number | null
  /** Peak resident memory of the syncing node's process. */
  readonly peakRssMB: number
  /** The old-space limit it ran with (`--max-old-space-size`, MiB). */
  readonly heapCapMB: number
  /** The syncing node's memory, in parts (peaks). */
  readonly memory: MemoryPeaks
  /** Its resident memory when its first peer connected (code, modules, workers; no chain yet). */
  readonly memoryAtStart: { readonly rssMB: number; readonly heapUsedMB: number }
  /** The baseline's process: CPU in cores, peak RSS. */
  readonly baseline: { readonly cpuCores: number; readonly peakRssMB: number } | null
  /** Bytes that crossed the links (both directions) during our sync and the baseline's (null: loopback). */
  readonly linkMB: { readonly sync: number; readonly baseline: number | null } | null
  readonly cores: number
  /** Node start to first connected peer (discovery's first round), not counted in `seconds`. */
  readonly secondsToFirstPeer: number
  /** Time to make the chain available to the servers (generation on the first run) and feed it to them. */
  readonly prepareSeconds: number
  /** Where the CPU went during the sync, in cores (0..cores). */
  readonly sync: SyncCpu
  /** CPU of the offline verification, and of other processes meanwhile, in cores. */
  readonly offline: { readonly ownCores: number; readonly otherCores: number }
}

/** CPU during the sync, in cores, and the syncing node's main-thread utilisation (0..1). */
export interface SyncCpu {
  readonly freshCores: number
  readonly freshMainThreadBusy: number
  readonly serversCores: number
  /** Other processes of the machine: anything well above 0 means the figures are depressed by contention. */
  readonly otherCores: number
}

/** Options of `runSyncBench`. */
export interface SyncBenchOptions {
  readonly validators?: number
  /** Chain length; default sized to ≈ 60,000 transactions (≈ 15–30 s of sync on the 2-core reference machine). */
  readonly commits?: number
  /** Default `loopback`. */
  readonly profile?: SyncProfile
  /** Run the baseline too (default true). */
  readonly baseline?: boolean
}

const DEFAULT_VALIDATORS = 10
const TRANSACTIONS_PER_BLOCK = 10
/** Default chain size in transactions: a commit holds ≈ one block per validator. */
const DEFAULT_TRANSACTIONS = 60_000
const SERVERS = 3
/** verifyBlocks/verifyCertifiers calls in flight in the offline measurement. */
const OFFLINE_CONCURRENCY = 2
/** Blocks loaded from the cache before a timed offline pass (bounds the bench's memory on long chains). */
const OFFLINE_BATCH_BLOCKS = 20_000

/** CPU time of every core of the machine, busy (ms). */
const machineBusyMs = (): number => cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)

/** CPU seconds of this process (every thread). */
const ownCpuSeconds = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** The default chain length for a committee size. */
export const defaultCommits = (validators: number): number => Math.max(1, Math.round(DEFAULT_TRANSACTIONS / (validators * TRANSACTIONS_PER_BLOCK)))

/**
 * The node configurations: servers 0..2 are validators 0..2 of the committee. The syncing nodes (ours
 * and the baseline) know them as seeds at `seedAddresses` (their links', or their own on loopback).
 */
const nodeConfigs = (dir: string, generator: ChainGenerator, ports: ReadonlyArray<number>) => {
  const committee = generator.committee(0)
  const address = (i: number) => `127.0.0.1:${ports[i] as number}`
  const common = {
    allowlistedPeers: [],
    genesisCommittee: committee,
    genesisBalances: [],
    plaintext: false,
    logLevel: "warning" as const,
    discovery: {},
    sync: {},
    limits: {}
  }
  const servers: Array<NodeConfig> = Array.from({ length: SERVERS }, (_, i) => ({
    ...common,
    name: `server-${i}`,
    role: "Validator" as const,
    networkKey: toHex(generator.networkSigner(i).seed),
    protocolKey: toHex(generator.protocolSigner(0, i).seed),
    listenAddress: address(i),
    externalAddress: address(i),
    // Validators fed by their own consensus: no seeds, so none syncs from another while being fed.
    seedPeers: [],
    storagePath: join(dir, `server-${i}`)
  }))
  const syncing = (name: string, port: number) => (seedAddresses: ReadonlyArray<string>): NodeConfig => ({
    ...common,
    name,
    role: "FullNode",
    networkKey: toHex(new TestSigner(deriveSeed(`bench-${name}`, generator.config.validators)).seed),
    listenAddress: address(port),
    externalAddress: address(port),
    seedPeers: servers.map((s, i) => ({ peerId: configPeerId(s), address: seedAddresses[i] as string })),
    storagePath: join(dir, name)
  })
  return { servers, fresh: syncing("fresh", SERVERS), baseline: syncing("baseline", SERVERS + 1) }
}

// ---- the offline measurement ----------------------------------------------------------------------

/** One range of ≤ 100 commits of one epoch, as sync receives it (bytes only). */
interface RangeWork {
  readonly committee: Committee
  readonly start: number
  readonly commits: ReadonlyArray<Uint8Array>
  readonly certifierRefs: ReadonlyArray<Uint8Array>
  /** The last commit's certifier blocks, by digest (hex). */
  readonly certifierBlocks: ReadonlyMap<string, Uint8Array>
  /** The range's blocks in chunks of ≤ 1,000, as FetchBlocks delivers them. */
  readonly chunks: ReadonlyArray<ReadonlyArray<BlockToVerify>>
}

const rangeWork = (range: ReadonlyArray<GeneratedCommit>): RangeWork => {
  const first = range[0] as GeneratedCommit
  const last = range[range.length - 1] as GeneratedCommit
  const blocks: Array<BlockToVerify> = range.flatMap((c) => c.subDag.blocks.map((b) => ({ bytes: b.bytes, expected: b.ref })))
  const chunks: Array<Array<BlockToVerify>> = []
  for (let i = 0; i < blocks.length; i += MAX_BLOCKS_PER_FETCH) chunks.push(blocks.slice(i, i + MAX_BLOCKS_PER_FETCH))
  return {
    committee: first.committee,
    start: first.subDag.commitRef.index,
    commits: range.map((c) => c.subDag.commit.bytes),
    certifierRefs: last.certifierBlocks.map((b) => encodeBcs(BlockRefBcs, b.ref)),
    certifierBlocks: new Map(last.certifierBlocks.map((b) => [toHex(b.ref.digest), b.bytes] as const)),
    chunks
  }
}

/** Splits the chain into sync's ranges (≤ 100 commits, never across an epoch), a batch of ranges at a time. */
function* rangeBatches(chain: Iterable<GeneratedCommit>): Generator<Array<RangeWork>> {
  let batch: Array<RangeWork> = []
  let batchBlocks = 0
  let range: Array<GeneratedCommit> = []
  const close = () => {
    if (range.length === 0) return
    const work = rangeWork(range)
    batch.push(work)
    batchBlocks += work.chunks.reduce((n, c) => n + c.length, 0)
    range = []
  }
  for (const c of chain) {
    const previous = range[range.length - 1]
    if (previous !== undefined && (previous.subDag.epoch !== c.subDag.epoch || range.length === MAX_COMMITS_PER_RANGE)) close()
    range.push(c)
    if (batchBlocks >= OFFLINE_BATCH_BLOCKS) {
      yield batch
      batch = []
      batchBlocks = 0
    }
  }
  close()
  if (batch.length > 0) yield batch
}

const fail = (what: string) => (error: { readonly message: string }) => Effect.dieMessage(`offline verification: ${what}: ${error.message}`)

/** One range's verification calls, as sync makes them: commits and certifiers first, then the blocks. */
const rangeTasks = (verifier: VerifierService, r: RangeWork): Array<Effect.Effect<void>> => [
  Effect.gen(function* () {
    const checked = yield* verifier
      .checkCommitRange(r.committee, { start: r.start, maxCommits: r.commits.length, commits: r.commits, certifierRefs: r.certifierRefs })
      .pipe(Effect.catchAll(fail("commit range")))
    const last = checked.commits[checked.commits.length - 1]!
    const blocks = checked.certifiers.map((ref) => ({ bytes: r.certifierBlocks.get(toHex(ref.digest)) as Uint8Array, expected: ref }))
    yield* verifier.verifyCertifiers(r.committee, last.ref, checked.certifiers, blocks).pipe(Effect.catchAll(fail("certifiers")))
  }),
  ...r.chunks.map((chunk) =>
    Effect.flatMap(verifier.verifyBlocks(r.committee, chunk), (results) => {
      const bad = results.find(Either.isLeft)
      return bad === undefined ? Effect.void : fail("block")(bad.left)
    })
  )
]

/** Seconds the verifier takes on the whole chain (only the verification is timed, not reading the cache). */
const offlineVerify = (chainConfig: ChainConfig, commits: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(VerifierLayer.pipe(Layer.provide(NodeCryptoLayer)))
      const verifier = Context.get(context, Verifier)
      // Warm-up (workers started, code paths compiled): the first range's certifiers.
      const warm = rangeBatches(cachedCommits(chainConfig, Math.min(commits, 2))).next()
      if (warm.done !== true) yield* (rangeTasks(verifier, warm.value[0] as RangeWork)[0] as Effect.Effect<void>)
      let seconds = 0
      let machineSeconds = 0
      let ownSeconds = 0
      for (const batch of rangeBatches(cachedCommits(chainConfig, commits))) {
        const tasks = batch.flatMap((r) => rangeTasks(verifier, r))
        const begin = performance.now()
        const machineBegin = machineBusyMs()
        const ownBegin = ownCpuSeconds()
        yield* Effect.forEach(tasks, (task) => task, { concurrency: OFFLINE_CONCURRENCY, discard: true })
        seconds += (performance.now() - begin) / 1000
        machineSeconds += (machineBusyMs() - machineBegin) / 1000
        ownSeconds += ownCpuSeconds() - ownBegin
      }
      return { seconds, ownCores: ownSeconds / seconds, otherCores: Math.max(0, (machineSeconds - ownSeconds) / seconds) }
    })
  )

// ---- the syncing node -----------------------------------------------------------------------------

const freshNodeScript = join(import.meta.dirname, "syncFreshNode.ts")
const baselineScript = join(import.meta.dirname, "baselineSync.ts")
/**
 * Old-space limit of the syncing node's process (MiB), as an operator runs a node with a memory budget:
 * of a 400 MB budget, ≈ 200 MB is fixed before any chain data arrives (Node and modules, two verify
 * workers with their own heaps, LMDB's map, gRPC), which leaves the main heap 256. What sync holds is
 * bounded below that (the plan's block budget, 16 published sub-DAGs, a store page of 500 blocks), so
 * the cap only stops V8 from letting garbage pile up towards its multi-GiB default.
 * `SOMA_SYNC_BENCH_HEAP_MB` overrides it (to find the smallest bound a chain still syncs in).
 */
const FRESH_NODE_HEAP_MB = 256
/**
 * The baseline's limit: the original strategy holds a whole range of 100 commits (10,000 blocks at 100
 * validators), so it is given the cap it always ran with rather than ours.
 */
const BASELINE_HEAP_MB = 384

/** What `syncFreshNode.ts` prints; CPU figures are over its sync window. */
interface FreshNodeResult {
  readonly seconds: number
  readonly secondsToFirstPeer: number
  readonly memory: MemoryPeaks
  readonly memoryAtStart: { readonly rssMB: number; readonly heapUsedMB: number }
  /** Its own CPU, in cores. */
  readonly cpuCores: number
  /** Its event loop's utilisation (0..1). */
  readonly mainThreadBusy: number
  /** The whole machine's CPU, in cores. */
  readonly machineCores: number
}

/** What `baselineSync.ts` prints. */
interface BaselineResult {
  readonly seconds: number
  readonly cpuCores: number
  readonly memory: MemoryPeaks
}

/** Runs a syncing node's script in its own process, its heap bounded; resolves with the JSON line it prints last. */
const runSyncingNode = <A>(script: string, configFile: string, commits: number, heapMB: number) =>
  new Promise<A>((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${heapMB}`, "--import", "tsx", script, configFile, String(commits)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.on("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? ""
      if (code === 0) resolve(JSON.parse(line) as A)
      else reject(new Error(`${script} exited with ${code}: ${out.slice(-500)}`))
    })
  })

/** Bytes the links have forwarded so far, both directions, all links. */
const linkBytes = (links: ReadonlyArray<Link>) =>
  Effect.promise(() => Promise.all(links.map((l) => l.stats()))).pipe(Effect.map((all) => all.reduce((n, s) => n + s.bytesForwarded, 0)))

/** Warnings of the nodes go to stderr: stdout carries the report. */
const logToStderr = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

/** Runs the benchmark. */
export const runSyncBench = async (options: SyncBenchOptions = {}): Promise<SyncBenchResult> => {
  const validators = options.validators ?? DEFAULT_VALIDATORS
  const commits = options.commits ?? defaultCommits(validators)
  const profile = options.profile ?? "loopback"
  const freshNodeHeapMB = Number(process.env["SOMA_SYNC_BENCH_HEAP_MB"] ?? FRESH_NODE_HEAP_MB)
  const conditions = SYNC_PROFILES[profile]
  if (!Number.isInteger(validators) || validators < 1) throw new RangeError(`--validators must be a positive integer, got ${validators}`)
  if (!Number.isInteger(commits) || commits < 1) throw new RangeError(`--commits must be a positive integer, got ${commits}`)
  if (!Number.isInteger(freshNodeHeapMB) || freshNodeHeapMB < 16) throw new RangeError(`SOMA_SYNC_BENCH_HEAP_MB must be an integer ≥ 16, got ${freshNodeHeapMB}`)
  const dir = mkdtempSync(join(tmpdir(), "soma-sync-bench-"))
  try {
    const chainConfig: ChainConfig = {
      seed: 1,
      validators,
      commitsPerEpoch: Math.ceil(commits / 2),
      transactionsPerBlock: TRANSACTIONS_PER_BLOCK
    }
    const generator = new ChainGenerator(chainConfig)
    const configs = nodeConfigs(dir, generator, await freePorts(SERVERS + 2))
    const writeConfig = (config: NodeConfig) => {
      const file = join(dir, `${config.name ?? "node"}.json`)
      writeFileSync(file, JSON.stringify(encodeNodeConfig(config)))
      return file
    }

    const program = Effect.scoped(
      Effect.gen(function* () {
        // The serving nodes, fed through the validator path (the chain is generated here on the first run).
        const prepareBegin = performance.now()
        const servers = yield* Effect.forEach(configs.servers, (config) =>
          Effect.map(Layer.build(p2pLayer(config)), (context) => Context.get(context, StateSync))
        )
        let blocks = 0
        let blockBytes = 0
        let transactions = 0
        for (const c of cachedCommits(chainConfig, commits)) {
          blocks += c.subDag.blocks.length
          for (const b of c.subDag.blocks) {
            transactions += b.signed.block.transactions.length
            blockBytes += b.bytes.length
          }
          for (const sync of servers) yield* sync.sendCommit(c.subDag, c.certifierBlocks)
        }
        const prepareSeconds = (performance.now() - prepareBegin) / 1000

        // The syncing nodes reach each server through its link, or straight on loopback.
        const links =
          conditions === undefined
            ? []
            : yield* Effect.forEach(configs.servers, (server) => linkResource({ target: server.listenAddress, ...conditions, label: server.name ?? "server" }), {
                concurrency: "unbounded"
              })
        const seedAddresses = conditions === undefined ? configs.servers.map((s) => s.listenAddress) : links.map((l) => l.address)
        /** Bytes through the links during `run`; fails if the chain's blocks did not cross them (a bypass). */
        const throughLinks = <A>(who: string, run: Effect.Effect<A>) =>
          Effect.gen(function* () {
            if (links.length === 0) return { result: yield* run, bytes: null }
            const before = yield* linkBytes(links)
            const result = yield* run
            const bytes = (yield* linkBytes(links)) - before
            if (bytes < blockBytes) return yield* Effect.dieMessage(`${who} synced ${blockBytes} bytes of blocks but only ${bytes} crossed the links: it bypassed them`)
            return { result, bytes }
          })

        const offline = yield* offlineVerify(chainConfig, commits)
        // The servers are idle until the fresh node connects: their CPU over its life is their sync-time CPU.
        const serversBegin = ownCpuSeconds()
        const freshConfigFile = writeConfig(configs.fresh(seedAddresses))
        const fresh = yield* throughLinks("the syncing node", Effect.promise(() => runSyncingNode<FreshNodeResult>(freshNodeScript, freshConfigFile, commits, freshNodeHeapMB)))
        const serversCores = (ownCpuSeconds() - serversBegin) / fresh.result.seconds
        const baselineConfigFile = writeConfig(configs.baseline(seedAddresses))
        const baseline =
          options.baseline === false
            ? null
            : yield* throughLinks("the baseline", Effect.promise(() => runSyncingNode<BaselineResult>(baselineScript, baselineConfigFile, commits, BASELINE_HEAP_MB)))
        return { blocks, transactions, prepareSeconds, offline, fresh: fresh.result, freshLinkBytes: fresh.bytes, baseline, serversCores }
      })
    ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning), Effect.provide(logToStderr))
    const { blocks, transactions, prepareSeconds, offline, fresh, freshLinkBytes, baseline, serversCores } = await Effect.runPromise(program)
    const MB = 1024 * 1024
    // The breakdown behind peakRssMB, on stderr: `--json` prints only the headline fields.
    console.error(`sync bench: syncing node's memory peaks (MB): ${JSON.stringify(fresh.memory, (_, v: unknown) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}`)
    return {
      profile,
      validators,
      commits,
      blocks,
      transactions,
      seconds: fresh.seconds,
      transactionsPerSec: transactions / fresh.seconds,
      offlineVerifySeconds: offline.seconds,
      ratio: offline.seconds / fresh.seconds,
      baselineSeconds: baseline?.result.seconds ?? null,
      speedupOverBaseline: baseline === null ? null : baseline.result.seconds / fresh.seconds,
      peakRssMB: fresh.memory.rssMB,
      heapCapMB: freshNodeHeapMB,
      memory: fresh.memory,
      memoryAtStart: fresh.memoryAtStart,
      baseline: baseline === null ? null : { cpuCores: baseline.result.cpuCores, peakRssMB: baseline.result.memory.rssMB },
      linkMB: freshLinkBytes === null ? null : { sync: freshLinkBytes / MB, baseline: baseline?.bytes === null || baseline === null ? null : baseline.bytes / MB },
      cores: availableParallelism(),
      secondsToFirstPeer: fresh.secondsToFirstPeer,
      prepareSeconds,
      sync: {
        freshCores: fresh.cpuCores,
        freshMainThreadBusy: fresh.mainThreadBusy,
        serversCores,
        otherCores: Math.max(0, fresh.machineCores - fresh.cpuCores - serversCores)
      },
      offline: { ownCores: offline.ownCores, otherCores: offline.otherCores }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
