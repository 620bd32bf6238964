/**
 * The syncing node of the sync benchmark, in its own process so that its time and peak memory are its
 * own. It is a full node as shipped: its configuration file is loaded and validated like any node's,
 * and `P2pBuilder.p2pLayer` wires it (gRPC + TLS, LMDB, server limits, PeerManager, discovery, sync);
 * it knows the serving nodes only as seed peers, which discovery dials.
 *
 * Prints one JSON line `{"seconds":…,"secondsToFirstPeer":…,"memory":{…}, CPU figures}`: `seconds` runs from the
 * first connected peer (discovery's first round starts at a random point of its first tick, which is
 * discovery's business, not sync's) to the `commits`-th commit delivered by `StateSync.commits`;
 * `memory` holds the peaks of its resident memory and of its parts (memory.ts), and the heap limit it ran
 * with: sync.ts starts it with its old space capped (`--max-old-space-size`), as an operator runs a node.
 * argv: config file, commits.
 *
 * `SOMA_SYNC_BENCH_HEAP_SNAPSHOT_AT=<index>`: writes a heap snapshot of the main isolate (to the
 * working directory) when that commit is delivered, to see what the sync holds mid-way.
 */
import { cpus } from "node:os"
import { performance } from "node:perf_hooks"
import { writeHeapSnapshot } from "node:v8"
import { Context, Effect, Layer, Logger, LogLevel, Option, Stream } from "effect"
import { Network } from "../../services/Network.js"
import { StateSync } from "../../services/StateSync.js"
import { loadNodeConfig } from "../node/NodeConfig.js"
import { p2pLayer } from "../node/P2pBuilder.js"
import { memoryNow, residentByFile, startMemorySampler } from "./memory.js"

const [configFile, commitsText] = process.argv.slice(2) as [string, string]
const commits = Number(commitsText)
/** CPU time of every core of the machine, busy (ms). */
const machineBusyMs = (): number => cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)
/** `SOMA_SYNC_BENCH_TRACE=1`: one line per delivered commit on stderr (when, which), to see stalls. */
const trace = process.env["SOMA_SYNC_BENCH_TRACE"] === "1"
const heapSnapshotAt = Number(process.env["SOMA_SYNC_BENCH_HEAP_SNAPSHOT_AT"] ?? Number.NaN)
const memory = startMemorySampler()

const program = Effect.gen(function* () {
  const config = yield* loadNodeConfig(configFile)
  const begin = performance.now()
  const context = yield* Layer.build(p2pLayer(config))
  const network = Context.get(context, Network)
  const sync = Context.get(context, StateSync)
  // Subscribed before looking at the connected peers, so the first connection cannot slip between the two.
  const events = yield* network.peerEvents
  const connected = yield* network.connectedPeers
  if (connected.length === 0) {
    yield* events.pipe(
      Stream.filter((event) => event._tag === "PeerConnected"),
      Stream.runHead,
      Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("peer events ended before any peer connected"), onSome: () => Effect.void }))
    )
  }
  const firstPeer = performance.now()
  const memoryAtStart = memoryNow()
  const machineBegin = machineBusyMs()
  const cpuBegin = process.cpuUsage()
  const loopBegin = performance.eventLoopUtilization()
  yield* sync.commits(1).pipe(
    Stream.take(commits),
    Stream.tap((subDag) =>
      Effect.sync(() => {
        if (trace) console.error(`trace ${((performance.now() - firstPeer) / 1000).toFixed(2)} s: commit ${subDag.commitRef.index} (epoch ${subDag.epoch})`)
        if (subDag.commitRef.index === heapSnapshotAt) console.error(`heap snapshot: ${writeHeapSnapshot()}`)
      })
    ),
    Stream.runDrain
  )
  const seconds = (performance.now() - firstPeer) / 1000
  // While the store is still open: its map is one of the file-backed mappings.
  if (process.env["SOMA_SYNC_BENCH_SMAPS"] === "1") console.error(`resident by mapping (MB): ${JSON.stringify(residentByFile())}`)
  const cpu = process.cpuUsage(cpuBegin)
  return {
    seconds,
    secondsToFirstPeer: (firstPeer - begin) / 1000,
    memoryAtStart,
    cpuCores: (cpu.user + cpu.system) / 1e6 / seconds,
    mainThreadBusy: performance.eventLoopUtilization(loopBegin).utilization,
    machineCores: (machineBusyMs() - machineBegin) / 1000 / seconds
  }
}).pipe(
  Effect.scoped,
  Logger.withMinimumLogLevel(LogLevel.Warning),
  // stdout carries the result line
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
)

Effect.runPromise(program).then(
  (result) => {
    console.log(JSON.stringify({ ...result, memory: memory.stop() }))
    process.exit(0)
  },
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
