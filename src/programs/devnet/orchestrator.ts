/**
 * `devnet`: the main job. Starts a local network in separate OS processes on loopback — V validators
 * producing a chain through the validator path and F fresh full nodes that know one validator as
 * seed, discover the rest, sync and execute — all over real gRPC with authentication and LMDB in a
 * temp dir. It shows live progress (a status line on a TTY, log lines otherwise, JSON events with
 * `--json`; see watch.ts) and, with `--commits N --exit-when-synced`, exits 0 once every full node has
 * synced and executed all N commits with a state equal to the validators' and no node banned or
 * penalised another (every devnet node is honest, so any ban is a bug), non-zero otherwise. The
 * summary (summary.ts) lists, per node, how many times it banned or penalised each other node.
 *
 * Shutdown. The temp dir and every node process (nodeProcess.ts) are scoped resources: however the
 * devnet ends — done, timed out, or interrupted by SIGINT/SIGTERM (the runtime interrupts the main
 * fiber) — closing the scope stops every node (SIGTERM, then SIGKILL after a grace period, all at
 * once), then the summary is printed and the dir removed (unless `--keep`). Each node also watches its
 * IPC channel to this process and shuts down when it closes, so no node outlives a devnet killed with
 * SIGKILL.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, type Scope } from "effect"
import { devnetGenesis, writeDevnetConfigs, type DevnetNode } from "./layout.js"
import { nodeProcess } from "./nodeProcess.js"
import type { DevnetOptions } from "./options.js"
import { devnetOutput } from "./output.js"
import type { ProducerConfig } from "./producer.js"
import { reportSummary } from "./summary.js"
import { watchDevnet } from "./watch.js"

export type { DevnetOptions } from "./options.js"

/** Each node runs this CLI's `devnet-node` command. */
const cliPath = join(import.meta.dirname, "../cli.ts")

/** The temp dir of one run: created in the scope, removed when it closes unless kept. */
const temporaryDirectory = (keep: boolean): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "soma-devnet-"))),
    (dir) => (keep ? Effect.void : Effect.sync(() => rmSync(dir, { recursive: true, force: true, maxRetries: 3 })))
  )

/**
 * Runs the devnet; returns the exit code, which it also sets as `process.exitCode` so that a run stopped
 * by a signal (the main fiber interrupted: the summary is still printed) ends with its verdict too.
 */
export const runDevnet = (options: DevnetOptions): Effect.Effect<number> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.scoped(
      Effect.gen(function* () {
        const started = Date.now()
        const output = devnetOutput(options.json)
        const dir = yield* temporaryDirectory(options.keep === true)
        const { chain, nodes } = devnetGenesis({
          validators: options.validators,
          fullnodes: options.fullnodes,
          basePort: options.basePort,
          dir,
          plaintext: options.plaintext,
          seed: options.seed,
          commitsPerEpoch: options.commitsPerEpoch,
          transactionsPerBlock: options.transactionsPerBlock
        })
        writeDevnetConfigs(nodes)
        const { validatorAddress: _address, ...chainJson } = chain
        const producer: ProducerConfig = { chain: chainJson, basePort: options.basePort, rate: options.rate, ...(options.commits !== undefined ? { commits: options.commits } : {}) }
        const argsOf = (node: DevnetNode) => [
          "--import",
          "tsx",
          cliPath,
          "devnet-node",
          "--config",
          node.configFile,
          ...(options.logFormat !== undefined ? ["--log-format", options.logFormat] : []),
          ...(node.role === "Validator" ? ["--producer", JSON.stringify(producer)] : [])
        ]

        // The processes' own scope: closing it stops every node at once, before the summary is made.
        const { processes, watched } = yield* Effect.scoped(
          Effect.gen(function* () {
            const processes = yield* Effect.parallelFinalizers(Effect.forEach(nodes, (node) => nodeProcess(node, argsOf(node), dir)))
            const watched = yield* restore(watchDevnet(processes, options, dir, started, output)).pipe(Effect.exit)
            if (output.tty) process.stdout.write("\n")
            if (Exit.isFailure(watched)) output.say(`devnet: stopping ${processes.filter((p) => !p.exited).length} node(s)…`)
            return { processes, watched }
          })
        )
        const code = reportSummary(processes, Exit.isSuccess(watched) ? watched.value : undefined, options, dir, started, output)
        process.exitCode = code
        return code
      })
    )
  )
