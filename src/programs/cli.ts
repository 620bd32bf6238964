/**
 * The `soma-p2p` command line: `node` (run a node from a config file), `keygen`, `genesis` (configs for a
 * local network), `config --schema` (the config file's JSON Schema), `status` (a running node's /status, summarised), `devnet` (the main job: a local
 * network in separate processes that a fresh full node syncs from) and `devnet-node` (one devnet
 * process; internal). A bad configuration prints one line naming the field and the problem and exits
 * with code 2. Logs go to stderr, as logfmt, JSON or Effect's pretty format (`--log-format`).
 *
 * Signals: the first SIGINT/SIGTERM interrupts the command (the runtime's handler), which then cleans
 * up — a node closes its server and flushes its store, the devnet stops its nodes and removes its temp
 * dir. A second one is reported and ignored, so that it cannot cut that cleanup short (a devnet node
 * gets the terminal's SIGINT and then the devnet's SIGTERM); a third exits at once.
 */
import { randomBytes } from "node:crypto"
import { mkdirSync } from "node:fs"
import { Args, Command, Options } from "@effect/cli"
import { Runtime } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Either, Logger, LogLevel, Option } from "effect"
import { toHex } from "../domain/bytes.js"
import { peerIdFromPublicKey } from "../domain/PeerId.js"
import { keypairFromSeedSync } from "../layers/crypto/NodeCryptoLayer.js"
import { runDevnet } from "./devnet/orchestrator.js"
import { devnetGenesis, writeDevnetConfigs } from "./devnet/layout.js"
import type { ProducerConfig } from "./devnet/producer.js"
import { LogFormat, loadNodeConfig, nodeConfigJsonSchema, type NodeConfig } from "./node/NodeConfig.js"
import { runNode } from "./node/runNode.js"
import { statusCommand } from "./status/statusCommand.js"
import { SOMA_P2P_VERSION } from "../layers/status/version.js"
import type { CommitteeInvalid } from "../services/Verifier.js"

/** Exit code for a configuration that cannot be used. */
const EXIT_BAD_CONFIG = 2

const levels = { debug: LogLevel.Debug, info: LogLevel.Info, warning: LogLevel.Warning, error: LogLevel.Error } as const

/** Every format writes to stderr: stdout carries command output and the devnet's JSON events. */
const loggers = {
  logfmt: Logger.withConsoleError(Logger.logfmtLogger),
  json: Logger.withConsoleError(Logger.jsonLogger),
  pretty: Logger.prettyLogger({ stderr: true })
} as const

/** Logs at the configured level and in the configured format (logfmt unless told otherwise). */
const withLogging = (level: NodeConfig["logLevel"], format: LogFormat = "logfmt") => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Logger.withMinimumLogLevel(levels[level]), Effect.provide(Logger.replace(Logger.defaultLogger, loggers[format])))

/** Ends a process whose parent is gone as if it got SIGTERM: found by its IPC channel closing (the devnet's nodes). */
const shutDownWithParent = () =>
  Effect.sync(() => {
    if (process.channel === undefined) return
    process.channel.unref() // the channel alone must not keep the node alive
    process.once("disconnect", () => process.kill(process.pid, "SIGTERM"))
    // With the parent gone, stdout is a broken pipe: a write would fail with EPIPE and, unhandled, crash
    // the node halfway through its shutdown. The JSON events have no reader left: drop them.
    process.stdout.on("error", () => undefined)
    process.stderr.on("error", () => undefined)
  })

/** Loads the config or exits with code 2 and one clear line. */
const configOrExit = (path: string, overrides: Readonly<Record<string, unknown>>) =>
  Either.match(loadNodeConfig(path, overrides), {
    onLeft: (error) =>
      Effect.sync(() => {
        process.stderr.write(`soma-p2p: bad configuration: ${error.message}\n`)
        process.exit(EXIT_BAD_CONFIG)
      }),
    onRight: (config) => Effect.succeed(config)
  })

const configFile = Options.text("config").pipe(Options.withDescription("path of the node's JSON configuration"))
const metricsPort = Options.integer("metrics-port").pipe(Options.optional, Options.withDescription("serve Prometheus metrics (/metrics) and the status API (/status, /peers) on this port of 127.0.0.1"))
const logFormat = Options.choice("log-format", LogFormat.literals).pipe(
  Options.optional,
  Options.withDescription("logs on stderr as logfmt (default), json (one object per line) or pretty")
)

/** Flags that override the config file's fields. */
const overridesOf = (o: { readonly metricsPort: Option.Option<number>; readonly logFormat: Option.Option<LogFormat> }) => ({
  ...Option.match(o.metricsPort, { onNone: () => ({}), onSome: (metricsPort) => ({ metricsPort }) }),
  ...Option.match(o.logFormat, { onNone: () => ({}), onSome: (logFormat) => ({ logFormat }) })
})

/** A committee in the config (genesis, checkpoint) without valid proofs of possession: a bad config, exit 2. */
const badCommittee = (error: CommitteeInvalid) =>
  Effect.sync(() => {
    process.stderr.write(`soma-p2p: bad configuration: ${error.message}\n`)
    return process.exit(EXIT_BAD_CONFIG)
  })

const nodeCommand = Command.make("node", { config: configFile, metricsPort, logFormat }, (o) =>
  Effect.flatMap(configOrExit(o.config, overridesOf(o)), (config) =>
    runNode(config).pipe(Effect.catchTag("CommitteeInvalid", badCommittee), withLogging(config.logLevel, config.logFormat))
  )
).pipe(Command.withDescription("run a node until SIGINT/SIGTERM, then shut down cleanly"))

const printJson = (event: Record<string, unknown>) => Effect.sync(() => process.stdout.write(JSON.stringify(event) + "\n"))

const devnetNodeCommand = Command.make(
  "devnet-node",
  { config: configFile, metricsPort, logFormat, producer: Options.text("producer").pipe(Options.optional) },
  (o) =>
    Effect.zipRight(
      shutDownWithParent(),
      Effect.flatMap(configOrExit(o.config, overridesOf(o)), (config) =>
        runNode(config, {
          onReady: (ready) => printJson({ event: "ready", ...ready }),
          onStatus: (status) => printJson({ event: "status", ...status }),
          ...Option.match(o.producer, { onNone: () => ({}), onSome: (json) => ({ producer: JSON.parse(json) as ProducerConfig }) })
        }).pipe(Effect.catchTag("CommitteeInvalid", badCommittee), withLogging(config.logLevel, config.logFormat))
      )
    )
).pipe(Command.withDescription("one process of the devnet (internal): a node that prints JSON status lines and stops when the devnet is gone"))

const keygenCommand = Command.make("keygen", {}, () =>
  Effect.sync(() => {
    const seed = randomBytes(32)
    const { publicKey } = keypairFromSeedSync(seed)
    process.stdout.write(JSON.stringify({ key: toHex(seed), peerId: peerIdFromPublicKey(publicKey) }) + "\n")
  })
).pipe(Command.withDescription("make a new Ed25519 key: prints {key, peerId}"))

const validators = Options.integer("validators").pipe(Options.withDefault(4))
const fullnodes = Options.integer("fullnodes").pipe(Options.withDefault(1))
const basePort = Options.integer("base-port").pipe(Options.withDefault(7100))
const plaintext = Options.boolean("plaintext").pipe(Options.withDescription("turn TLS off (tests and debugging only)"))
const seed = Options.integer("seed").pipe(Options.withDefault(1))
const commitsPerEpoch = Options.integer("commits-per-epoch").pipe(Options.withDefault(100))
const txPerBlock = Options.integer("tx-per-block").pipe(Options.withDefault(4))

const genesisCommand = Command.make(
  "genesis",
  { validators, fullnodes, basePort, plaintext, seed, commitsPerEpoch, txPerBlock, out: Args.text({ name: "dir" }) },
  (o) =>
    Effect.gen(function* () {
      mkdirSync(o.out, { recursive: true })
      const { nodes } = devnetGenesis({ ...o, dir: o.out, transactionsPerBlock: o.txPerBlock })
      writeDevnetConfigs(nodes)
      for (const n of nodes) yield* Console.log(`${n.configFile}  ${n.role}  ${n.peerId}  ${n.address}`)
    })
).pipe(Command.withDescription("write a committee and one config file per node of a local network into DIR"))

const devnetCommand = Command.make(
  "devnet",
  {
    validators,
    fullnodes,
    basePort,
    plaintext,
    seed,
    commitsPerEpoch,
    txPerBlock,
    commits: Options.integer("commits").pipe(Options.optional, Options.withDescription("validators stop producing after N commits")),
    exitWhenSynced: Options.boolean("exit-when-synced").pipe(Options.withDescription("exit 0 once every full node synced and executed all N commits")),
    json: Options.boolean("json").pipe(Options.withDescription("one JSON event per line on stdout")),
    rate: Options.integer("rate").pipe(Options.withDefault(20), Options.withDescription("commits per second")),
    killValidatorAt: Options.integer("kill-validator-at").pipe(Options.optional, Options.withDescription("SIGKILL one validator once the full nodes reach this commit")),
    timeout: Options.integer("timeout").pipe(Options.optional, Options.withDescription("seconds before --exit-when-synced gives up")),
    keep: Options.boolean("keep").pipe(Options.withDescription("keep the temp dir with stores and logs")),
    logFormat
  },
  (o) =>
    Effect.flatMap(
      runDevnet({
        validators: o.validators,
        fullnodes: o.fullnodes,
        exitWhenSynced: o.exitWhenSynced,
        json: o.json,
        basePort: o.basePort,
        plaintext: o.plaintext,
        rate: o.rate,
        commitsPerEpoch: o.commitsPerEpoch,
        transactionsPerBlock: o.txPerBlock,
        seed: o.seed,
        keep: o.keep,
        ...Option.match(o.commits, { onNone: () => ({}), onSome: (commits) => ({ commits }) }),
        ...Option.match(o.killValidatorAt, { onNone: () => ({}), onSome: (killValidatorAt) => ({ killValidatorAt }) }),
        ...Option.match(o.timeout, { onNone: () => ({}), onSome: (timeoutSeconds) => ({ timeoutSeconds }) }),
        ...Option.match(o.logFormat, { onNone: () => ({}), onSome: (logFormat) => ({ logFormat }) })
      }).pipe(withLogging("info", Option.getOrUndefined(o.logFormat))),
      (code) => Effect.sync(() => process.exit(code))
    )
).pipe(Command.withDescription("the main job: a local devnet in separate processes that a fresh full node discovers, syncs and executes"))

const configCommand = Command.make(
  "config",
  { schema: Options.boolean("schema").pipe(Options.withDescription("print the JSON Schema of the node configuration file")) },
  (o) =>
    o.schema
      ? Effect.sync(() => process.stdout.write(JSON.stringify(nodeConfigJsonSchema(), null, 2) + "\n"))
      : Effect.sync(() => {
          process.stderr.write("soma-p2p config: nothing to do (--schema prints the configuration file's JSON Schema)\n")
          process.exitCode = EXIT_BAD_CONFIG
        })
).pipe(Command.withDescription("about the node configuration file: --schema prints its JSON Schema"))

/** The subcommands, in the order `--help` lists them. */
const commands = [nodeCommand, statusCommand, devnetCommand, genesisCommand, keygenCommand, configCommand, devnetNodeCommand] as const

const cli = Command.make("soma-p2p").pipe(Command.withSubcommands(commands))

/** See the module comment: the runtime handles the first signal; later ones must not kill the cleanup. */
const guardCleanup = () => {
  let received = 0
  const onSignal = (signal: NodeJS.Signals) => {
    received++
    if (received === 2) process.stderr.write(`soma-p2p: ${signal}: already shutting down (send it again to exit at once)\n`)
    if (received >= 3) process.exit(1)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
}

/** The exit code: a failure is 1; otherwise what the command set (the devnet's verdict, also after a signal), else 0. */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Runtime.defaultTeardown(exit, (code) => onExit(code === 0 && process.exitCode !== undefined ? Number(process.exitCode) : code))

guardCleanup()
Command.run(cli, { name: "soma-p2p", version: SOMA_P2P_VERSION })(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disablePrettyLogger: true, teardown })
)
