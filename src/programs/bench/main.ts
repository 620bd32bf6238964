/**
 * Benchmark CLI: `npm run bench -- <name> [--json] [--flag value ...]`.
 *
 * Each registered bench returns the fields of its one-line JSON report (`--json`, for scripts and CI)
 * and the rows of its readable table. To add a bench, add an entry to `BENCHES`.
 */
import { ATTACK_NAMES, isAttackName } from "../../testkit/adversary/attack.js"
import { runAdversaryBench } from "./adversary.js"
import { runCryptoBench } from "./crypto.js"
import { discoveryBenchOptions, runDiscoveryBench } from "./discovery.js"
import { runNetworkBench } from "./network.js"
import { runSyncBench, SYNC_PROFILES, type SyncProfile } from "./sync.js"

/** A value of a bench's JSON report (nested for benches that report one entry per scenario). */
export type BenchJsonValue = number | string | boolean | null | ReadonlyArray<BenchJsonValue> | { readonly [key: string]: BenchJsonValue }

/** One bench's output: the JSON fields (in order) and a readable table. */
export interface BenchReport {
  readonly json: Readonly<Record<string, BenchJsonValue>>
  readonly table: ReadonlyArray<readonly [label: string, value: number | null, unit: string]>
}

/** The registered benches, by CLI name. */
export const BENCHES: Readonly<Record<string, (argv: ReadonlyArray<string>) => Promise<BenchReport>>> = {
  adversary: async (argv) => {
    // `--attack <name>` (repeatable, or comma-separated; default all), `--seconds N` per attack (default 10),
    // `--settle N` seconds after each, `--commits N` the victim holds, `--scale F` of each attack (1 = full),
    // `--keep` keeps the temp dir (stores, logs).
    const values = (name: string) => argv.flatMap((arg, i) => (arg === name && argv[i + 1] !== undefined ? argv[i + 1]!.split(",") : []))
    const number = (name: string) => {
      const [value] = values(name)
      return value === undefined ? undefined : Number(value)
    }
    const attacks = values("--attack")
    const unknown = attacks.filter((a) => !isAttackName(a))
    if (unknown.length > 0) throw new RangeError(`--attack must be one of ${ATTACK_NAMES.join(", ")}, got ${unknown.join(", ")}`)
    const seconds = number("--seconds")
    const settle = number("--settle")
    const commits = number("--commits")
    const scale = number("--scale")
    const r = await runAdversaryBench({
      ...(attacks.length > 0 ? { attacks: ATTACK_NAMES.filter((a) => attacks.includes(a)) } : {}),
      ...(seconds !== undefined ? { seconds } : {}),
      ...(settle !== undefined ? { settleSeconds: settle } : {}),
      ...(commits !== undefined ? { commits } : {}),
      ...(scale !== undefined ? { scale } : {}),
      keep: argv.includes("--keep"),
      onProgress: (line) => console.error(line)
    })
    const entry = (w: (typeof r.attacks)[number]): BenchJsonValue => ({ ...w })
    return {
      json: {
        attacks: r.attacks.map(entry),
        worstHonestP99Ms: r.worstHonestP99Ms,
        worstHonestSuccess: r.worstHonestSuccess,
        worstRssGrowthMB: r.worstRssGrowthMB,
        worstEventLoopMaxMs: r.worstEventLoopMaxMs,
        reference: entry(r.reference),
        seconds: r.seconds,
        commits: r.commits,
        blocks: r.blocks,
        cores: r.cores
      },
      table: [
        ["reference (no attack): honest p99", r.reference.honestP99Ms, "ms"],
        ["reference: honest success", r.reference.honestSuccess, ""],
        ["reference: victim event-loop max", r.reference.eventLoopMaxMs, "ms"],
        ...r.attacks.flatMap((w): BenchReport["table"] => [
          [`${w.attack}: honest p99`, w.honestP99Ms, "ms (goal ≤ 500)"],
          [`${w.attack}: honest success`, w.honestSuccess, "(goal ≥ 0.99)"],
          [`${w.attack}: victim RSS growth`, w.victimRssGrowthMB, "MB (goal ≤ 150)"],
          [`${w.attack}: victim event-loop max`, w.eventLoopMaxMs, "ms"],
          [`${w.attack}: victim alive and answering after`, w.victimAliveAfter ? 1 : 0, ""]
        ]),
        ["worst honest p99", r.worstHonestP99Ms, "ms"],
        ["worst honest success", r.worstHonestSuccess, ""],
        ["worst victim RSS growth", r.worstRssGrowthMB, "MB"],
        ["cores", r.cores, ""]
      ]
    }
  },
  discovery: async (argv) => {
    // `--nodes N` (default 200), `--sybil F`: the share of them that are Sybil attackers (default 0).
    const r = await runDiscoveryBench({ ...discoveryBenchOptions(argv), onProgress: (line) => console.error(line) })
    return {
      json: {
        nodes: r.nodes,
        ticksToConverge: r.ticksToConverge,
        minHonestKnown: r.minHonestKnown,
        meanHonestKnown: r.meanHonestKnown,
        msPerTickPerNode: r.msPerTickPerNode,
        sybils: r.sybils,
        honestShare: r.honestShare,
        eclipsed: r.eclipsed,
        honestShareTable: r.honestShareTable,
        honestShareServed: r.honestShareServed,
        honestShareWithoutAttackerNodes: r.honestShareWithoutAttackerNodes,
        maxFakesInTable: r.maxFakesInTable,
        maxAttackersInTable: r.maxAttackersInTable,
        seconds: r.seconds
      },
      table: [
        ["simulated nodes (one seed, real crypto)", r.nodes, ""],
        ["of which Sybil attackers (fresh fake identities dated now + 29 s)", r.sybils, ""],
        ["ticks until every honest node knows every other and holds its target connections", r.ticksToConverge, "ticks"],
        ["at the end: smallest share of the other honest nodes one honest node knows", r.minHonestKnown, ""],
        ["at the end: mean share of the other honest nodes an honest node knows", r.meanHonestKnown, ""],
        ["CPU per tick per node", r.msPerTickPerNode, "ms"],
        ["smallest honest share of an honest table or served sample", r.honestShare, "(goal ≥ 0.9)"],
        ["the same, not counting the attacker nodes (what minted identities take)", r.honestShareWithoutAttackerNodes, ""],
        ["honest nodes without an honest connection", r.eclipsed, "(goal 0)"],
        ["most fake identities in one honest table", r.maxFakesInTable, ""],
        ["most attacker nodes in one honest table (real peers: 0.9 is the ceiling at 10 % attackers)", r.maxAttackersInTable, ""],
        ["wall-clock time of the run", r.seconds, "s"]
      ]
    }
  },
  network: async () => {
    const r = await runNetworkBench()
    return {
      json: {
        unaryCallsPerSec: r.unaryCallsPerSec,
        streamMBPerSec: r.streamMBPerSec,
        plaintextStreamMBPerSec: r.plaintextStreamMBPerSec,
        authOverheadPct: r.authOverheadPct
      },
      table: [
        ["unary calls (TLS, 32 in flight)", r.unaryCallsPerSec, "calls/s"],
        ["stream of 1 MiB messages (TLS)", r.streamMBPerSec, "MB/s"],
        ["stream of 1 MiB messages (plaintext)", r.plaintextStreamMBPerSec, "MB/s"],
        ["authentication/TLS cost on streaming", r.authOverheadPct, "%"]
      ]
    }
  },
  sync: async (argv) => {
    // `--validators N` (default 10); `--commits N` makes the chain longer (memory must stay bounded whatever N);
    // `--profile loopback|wan` (default loopback); `--no-baseline` skips the original strategy's run.
    const flag = (name: string) => {
      const at = argv.indexOf(name)
      return at >= 0 ? argv[at + 1] : undefined
    }
    const validators = flag("--validators")
    const commits = flag("--commits")
    const profile = flag("--profile") ?? "loopback"
    if (!(profile in SYNC_PROFILES)) throw new RangeError(`--profile must be one of ${Object.keys(SYNC_PROFILES).join(", ")}, got ${profile}`)
    const r = await runSyncBench({
      ...(validators !== undefined ? { validators: Number(validators) } : {}),
      ...(commits !== undefined ? { commits: Number(commits) } : {}),
      profile: profile as SyncProfile,
      baseline: !argv.includes("--no-baseline")
    })
    const orNull = (value: number | null | undefined) => value ?? null
    return {
      // exactly these fields, in this order: scripts compare them across runs
      json: {
        profile: r.profile,
        validators: r.validators,
        commits: r.commits,
        blocks: r.blocks,
        transactions: r.transactions,
        seconds: r.seconds,
        transactionsPerSec: r.transactionsPerSec,
        offlineVerifySeconds: r.offlineVerifySeconds,
        ratio: r.ratio,
        baselineSeconds: r.baselineSeconds,
        speedupOverBaseline: r.speedupOverBaseline,
        peakRssMB: r.peakRssMB,
        cores: r.cores
      },
      table: [
        ["profile: 0 loopback, 1 WAN (50 ms one-way, 100 Mbit/s per server link)", r.profile === "wan" ? 1 : 0, ""],
        ["validators (equal stake, 10 transactions per block)", r.validators, ""],
        ["commits synced", r.commits, ""],
        ["blocks", r.blocks, ""],
        ["certified transactions", r.transactions, ""],
        ["sync time (3 servers, gRPC + TLS + LMDB, from first peer)", r.seconds, "s"],
        ["transactions/s", r.transactionsPerSec, "tx/s"],
        ["offline verification of the same chain (same verifier)", r.offlineVerifySeconds, "s"],
        ["ratio (offline ÷ sync)", r.ratio, "(target ≥ 0.8)"],
        ["baseline: Soma's strategy, same chain, servers and links", r.baselineSeconds, "s"],
        ["speedup over the baseline (baseline ÷ sync)", r.speedupOverBaseline, "x"],
        ["peak RSS of the syncing node", r.peakRssMB, "MB"],
        ["cores", r.cores, ""],
        ["  node start to first peer (discovery)", r.secondsToFirstPeer, "s"],
        ["  chain ready and fed to the servers", r.prepareSeconds, "s"],
        ["  syncing node's CPU during sync", r.sync.freshCores, "cores"],
        ["  its main thread busy (event-loop utilisation)", r.sync.freshMainThreadBusy * 100, "%"],
        ["  serving nodes' CPU during sync", r.sync.serversCores, "cores"],
        ["  other processes' CPU during sync", r.sync.otherCores, "cores (should be ~0)"],
        ["  its resident memory when its first peer connected (code, modules, workers)", r.memoryAtStart.rssMB, "MB"],
        ["  its resident memory: anonymous (JS heaps, native), peak", r.memory.rssAnonMB, "MB"],
        ["  its resident memory: file-backed (LMDB map, code), peak", r.memory.rssFileMB, "MB"],
        ["  its main-thread V8 heap used, peak", r.memory.heapUsedMB, "MB"],
        ["  its main-thread V8 heap reserved, peak", r.memory.heapTotalMB, "MB"],
        ["  its ArrayBuffers (block bytes, messages), peak", r.memory.arrayBuffersMB, "MB"],
        ["  its live heap (used after a full GC), peak", r.memory.liveHeapMB, "MB"],
        ["  its GC pauses (main thread)", r.memory.gcSeconds, "s"],
        ["  its full GCs", r.memory.fullGcs, ""],
        ["  bytes through the links during sync", orNull(r.linkMB?.sync), "MB"],
        ["  baseline's CPU", orNull(r.baseline?.cpuCores), "cores"],
        ["  baseline's peak RSS", orNull(r.baseline?.peakRssMB), "MB"],
        ["  bytes through the links during the baseline", orNull(r.linkMB?.baseline), "MB"],
        ["  verifier's CPU during offline verification", r.offline.ownCores, "cores"],
        ["  other processes' CPU during offline verification", r.offline.otherCores, "cores (should be ~0)"]
      ]
    }
  },
  crypto: async () => {
    const r = await runCryptoBench()
    return {
      // exactly these fields, in this order: scripts compare them across runs
      json: {
        nobleVerifyPerSec: r.nobleVerifyPerSec,
        nativeVerifyPerSec: r.nativeVerifyPerSec,
        poolVerifyPerSec: r.poolVerifyPerSec,
        poolSpeedup: r.poolSpeedup,
        blake2bMBPerSec: r.blake2bMBPerSec,
        blockDecodePerSec: r.blockDecodePerSec,
        blsCertificatesPerSec: r.blsCertificatesPerSec,
        ed25519MultisigCertificatesPerSec: r.ed25519MultisigCertificatesPerSec
      },
      table: [
        ["noble verify (1 thread)", r.nobleVerifyPerSec, "verifies/s"],
        ["native verify (1 thread, sync)", r.nativeVerifyPerSec, "verifies/s"],
        [`pool verifyMany (${r.workers} workers, batches of 4096)`, r.poolVerifyPerSec, "verifies/s"],
        ["pool speedup over native", r.poolSpeedup, "x"],
        ["BLS certificates 67/100 (pool, batches of 256)", r.blsCertificatesPerSec, "certs/s"],
        ["Ed25519 multisig certificates (67 sigs, pool; the old design)", r.ed25519MultisigCertificatesPerSec, "certs/s"],
        ["  main thread busy during pool", r.poolMainThreadBusy * 100, "%"],
        ["libuv callback verify (alternative)", r.libuvVerifyPerSec, "verifies/s"],
        ["  main thread busy during libuv", r.libuvMainThreadBusy * 100, "%"],
        ["blake2b-256, 1 MiB (fastest)", r.blake2bMBPerSec, "MB/s"],
        ["  hash-wasm", r.blake2bHashWasmMBPerSec, "MB/s"],
        ["  @noble/hashes", r.blake2bNobleMBPerSec, "MB/s"],
        ["block decode", r.blockDecodePerSec, "blocks/s"],
        ["other processes' CPU during the bench", r.otherProcessesCores, "cores (should be ~0)"]
      ]
    }
  }
}

/**
 * Figures as printed: integers from 100, two decimals from 1, four below (a share of 0.897 is not 0.9,
 * and neither is 359/399 = 0.8997: three decimals printed that as 0.9).
 */
const round = <A extends BenchJsonValue>(value: A): A | number =>
  typeof value !== "number"
    ? value
    : Math.abs(value) >= 100
      ? Math.round(value)
      : Math.abs(value) >= 1
        ? Math.round(value * 100) / 100
        : Math.round(value * 10_000) / 10_000

const printTable = (name: string, report: BenchReport): void => {
  const width = Math.max(...report.table.map(([label]) => label.length))
  console.log(`bench ${name}`)
  for (const [label, value, unit] of report.table) {
    const shown = value === null ? "null" : String(round(value))
    console.log(`  ${label.padEnd(width)}  ${shown.padStart(10)} ${unit}`)
  }
}

/** Flags followed by a value (not a bench name). */
const FLAGS_WITH_VALUES = new Set(["--max-ticks", "--commits", "--validators", "--profile", "--attack", "--seconds", "--settle", "--scale", "--nodes", "--sybil"])

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const json = argv.includes("--json")
  const names = argv.filter((arg, i) => !arg.startsWith("--") && !FLAGS_WITH_VALUES.has(argv[i - 1] ?? ""))
  const name = names[0]
  const bench = name === undefined ? undefined : BENCHES[name]
  if (name === undefined || bench === undefined || names.length > 1) {
    console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join("|")}> [--json]`)
    return 2
  }
  const report = await bench(argv)
  if (json) {
    const fields = Object.fromEntries(Object.entries(report.json).map(([key, value]) => [key, round(value)]))
    console.log(JSON.stringify({ name, ...fields }))
  } else {
    printTable(name, report)
  }
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  }
)
