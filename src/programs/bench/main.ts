/**
 * Benchmark CLI: `npm run bench -- <name> [--json]`.
 *
 * Each registered bench returns the fields of its one-line JSON report (`--json`, for scripts and CI)
 * and the rows of its readable table. To add a bench, add an entry to `BENCHES`.
 */
import { runCryptoBench } from "./crypto.js"
import { runDiscoveryBench } from "./discovery.js"
import { runNetworkBench } from "./network.js"
import { runSyncBench } from "./sync.js"

/** One bench's output: the JSON fields (in order) and a readable table. */
export interface BenchReport {
  readonly json: Readonly<Record<string, number | null>>
  readonly table: ReadonlyArray<readonly [label: string, value: number | null, unit: string]>
}

/** The registered benches, by CLI name. */
export const BENCHES: Readonly<Record<string, (argv: ReadonlyArray<string>) => Promise<BenchReport>>> = {
  discovery: async () => {
    const r = await runDiscoveryBench()
    return {
      json: { nodes: r.nodes, ticksToConverge: r.ticksToConverge, msPerTickPerNode: r.msPerTickPerNode },
      table: [
        ["simulated nodes (one seed, real crypto)", r.nodes, ""],
        ["ticks until every node knows every other and holds its target connections", r.ticksToConverge, "ticks"],
        ["CPU per tick per node", r.msPerTickPerNode, "ms"]
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
    // `--validators N` (default 10); `--commits N` makes the chain longer (memory must stay bounded whatever N).
    const flag = (name: string) => {
      const at = argv.indexOf(name)
      return at >= 0 ? Number(argv[at + 1]) : undefined
    }
    const validators = flag("--validators")
    const commits = flag("--commits")
    const r = await runSyncBench({ ...(validators !== undefined ? { validators } : {}), ...(commits !== undefined ? { commits } : {}) })
    return {
      // exactly these fields, in this order: scripts compare them across runs
      json: {
        validators: r.validators,
        commits: r.commits,
        blocks: r.blocks,
        transactions: r.transactions,
        seconds: r.seconds,
        transactionsPerSec: r.transactionsPerSec,
        offlineVerifySeconds: r.offlineVerifySeconds,
        ratio: r.ratio,
        peakRssMB: r.peakRssMB,
        cores: r.cores
      },
      table: [
        ["validators (equal stake, 10 transactions per block)", r.validators, ""],
        ["commits synced", r.commits, ""],
        ["blocks", r.blocks, ""],
        ["certified transactions", r.transactions, ""],
        ["sync time (3 servers, gRPC + TLS + LMDB, from first peer)", r.seconds, "s"],
        ["transactions/s", r.transactionsPerSec, "tx/s"],
        ["offline verification of the same chain (same verifier)", r.offlineVerifySeconds, "s"],
        ["ratio (offline ÷ sync)", r.ratio, "(target ≥ 0.75)"],
        ["peak RSS of the syncing node", r.peakRssMB, "MB"],
        ["cores", r.cores, ""],
        ["  node start to first peer (discovery)", r.secondsToFirstPeer, "s"],
        ["  chain ready and fed to the servers", r.prepareSeconds, "s"],
        ["  syncing node's CPU during sync", r.sync.freshCores, "cores"],
        ["  its main thread busy (event-loop utilisation)", r.sync.freshMainThreadBusy * 100, "%"],
        ["  serving nodes' CPU during sync", r.sync.serversCores, "cores"],
        ["  other processes' CPU during sync", r.sync.otherCores, "cores (should be ~0)"],
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

const round = (value: number | null): number | null =>
  value === null ? null : Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100

const printTable = (name: string, report: BenchReport): void => {
  const width = Math.max(...report.table.map(([label]) => label.length))
  console.log(`bench ${name}`)
  for (const [label, value, unit] of report.table) {
    const shown = value === null ? "null" : String(round(value))
    console.log(`  ${label.padEnd(width)}  ${shown.padStart(10)} ${unit}`)
  }
}

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const json = argv.includes("--json")
  const names = argv.filter((arg, i) => !arg.startsWith("--") && argv[i - 1] !== "--commits" && argv[i - 1] !== "--validators")
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
