/**
 * The victim of the adversary bench, in its own process: a full node as shipped (`P2pBuilder.p2pLayer`:
 * gRPC + mutual TLS, LMDB, the P2P server's limits, PeerManager, discovery, sync), loaded from its
 * configuration file like any node, holding the chain's first `commits` commits (stored through the
 * validator path, `StateSync.sendCommit`, quorum votes included, so it serves them all).
 *
 * argv: config file, chain config (JSON), commits. stdout, one JSON object per line:
 * `{"event":"ready","address":…,"peerId":…}` once it serves, then every `SAMPLE_INTERVAL_MS`
 * `{"event":"sample","t":<epoch ms>,"rssMB":…,"heapUsedMB":…,"eventLoopMaxMs":…,"syncedCommit":…,"bannedPeers":…}`
 * where `eventLoopMaxMs` is the longest event-loop delay since the previous sample
 * (`monitorEventLoopDelay`). Logs go to stderr. It runs until SIGTERM/SIGINT.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Cause, Context, Effect, Either, Exit, Fiber, Layer, Logger, LogLevel, Schedule } from "effect"
import type { ChainConfig } from "../../../testkit/chain.js"
import { cachedCommits } from "../../../testkit/chainCache.js"
import { Network } from "../../../services/Network.js"
import { StateSync } from "../../../services/StateSync.js"
import { loadNodeConfig } from "../../node/NodeConfig.js"
import { p2pLayer } from "../../node/P2pBuilder.js"

/** How often the victim reports its memory and event-loop delay. */
const SAMPLE_INTERVAL_MS = 200
/** Resolution of the event-loop delay histogram. */
const EVENT_LOOP_RESOLUTION_MS = 5

const [configFile, chainText, commitsText] = process.argv.slice(2) as [string, string, string]
const chainConfig = JSON.parse(chainText) as ChainConfig
const commits = Number(commitsText)
const MB = 1024 * 1024

const program = Effect.gen(function* () {
  const config = yield* Either.match(loadNodeConfig(configFile), { onLeft: (e) => Effect.dieMessage(e.message), onRight: Effect.succeed })
  const context = yield* Layer.build(p2pLayer(config))
  const network = Context.get(context, Network)
  const sync = Context.get(context, StateSync)
  for (const c of cachedCommits(chainConfig, commits)) yield* sync.sendCommit(c.subDag, c.certifierBlocks)

  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  delay.enable()
  yield* Effect.addFinalizer(() => Effect.sync(() => delay.disable()))
  const sample = Effect.gen(function* () {
    const status = yield* Effect.either(sync.status)
    const memory = process.memoryUsage()
    const line = {
      event: "sample",
      t: Date.now(),
      rssMB: memory.rss / MB,
      heapUsedMB: memory.heapUsed / MB,
      eventLoopMaxMs: delay.max / 1e6,
      syncedCommit: Either.isRight(status) ? status.right.highestSyncedCommit : null,
      bannedPeers: Either.isRight(status) ? status.right.bannedPeers : null
    }
    delay.reset()
    console.log(JSON.stringify(line))
  })
  console.log(JSON.stringify({ event: "ready", address: network.listenAddress, peerId: network.localPeerId }))
  yield* sample.pipe(Effect.repeat(Schedule.spaced(SAMPLE_INTERVAL_MS)))
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Logger.withMinimumLogLevel(LogLevel.Warning),
  // stdout carries the samples
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
)

// SIGTERM/SIGINT interrupt the program (closing the server and the store) before the process exits.
const fiber = Effect.runFork(program)
fiber.addObserver((exit) => {
  if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) {
    console.error(`victim failed: ${Cause.pretty(exit.cause)}`)
    process.exit(1)
  }
})
const shutdown = () => {
  Effect.runPromise(Fiber.interrupt(fiber)).then(() => process.exit(0))
}
process.once("SIGTERM", shutdown)
process.once("SIGINT", shutdown)
