/**
 * `npm run soak` (scripts/soak.ts): longer versions of the chaos scenario of `npm test`
 * (test/e2e/chaos.test.ts) — more commits, more faults, several seeds — one run after another, a report
 * per run; exits 1 if any run failed.
 *
 *   npm run soak                                   # seeds 1–3, 1,000 commits, 3 partitions, 2 slow links, 4+2 kills
 *   npm run soak -- --seeds 7 --commits 300        # one seed, shorter
 *   npm run soak -- --runs 10 --first-seed 100     # seeds 100–109
 *   npm run soak -- --faults 1 --commits 200       # the scenario of npm test, on other seeds
 *   npm run soak -- --link-validators              # validator↔validator connections through links too
 *   npm run soak -- --keep --debug                 # keep stores and logs (debug level) of each run
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { formatReport, runChaos, type ChaosReport } from "./runChaos.js"
import { defaultScenario, type ChaosScenario, type FaultCounts } from "./scenario.js"

/** Faults of a soak run at `--faults 2` (the default); `--faults k` scales the test's counts by k (0: none). */
const faultsAt = (scale: number): FaultCounts => ({
  partitions: Math.round(1.5 * scale),
  slowLinks: scale,
  fullNodeKills: 2 * scale,
  validatorKills: scale
})

/** The scenario of one soak run. */
export const soakScenario = (options: {
  readonly seed: number
  readonly commits: number
  readonly faults: number
  readonly rate: number
  readonly linkValidatorPairs: boolean
}): ChaosScenario => ({
  ...defaultScenario,
  seed: options.seed,
  commits: options.commits,
  rate: options.rate,
  linkValidatorPairs: options.linkValidatorPairs,
  ...(options.faults === 1
    ? {}
    : {
        faults: faultsAt(options.faults),
        // A slow link as long as its latency: requests to it outlive their deadlines and its connections die.
        slowLink: { ...defaultScenario.slowLink, durationMs: 30_000 }
      }),
  // Production slows down on a busy machine; allow three times the nominal time plus start and catch-up.
  timeoutMs: 120_000 + Math.ceil((3 * options.commits * 1000) / options.rate)
})

const usage = "usage: npm run soak -- [--seeds 1,2,3 | --runs N --first-seed S] [--commits N] [--faults K] [--rate R] [--link-validators] [--keep] [--debug]"

/** Runs the soak described by the command-line `args`; resolves with the exit code. */
export const soakMain = async (args: ReadonlyArray<string>): Promise<number> => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seeds: { type: "string" },
      runs: { type: "string" },
      "first-seed": { type: "string" },
      commits: { type: "string", default: "1000" },
      faults: { type: "string", default: "2" },
      rate: { type: "string", default: String(defaultScenario.rate) },
      "link-validators": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      debug: { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    }
  })
  if (values.help) {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  const integer = (name: string, text: string): number => {
    const n = Number(text)
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got ${text}\n${usage}`)
    return n
  }
  const seeds =
    values.seeds !== undefined
      ? values.seeds.split(",").map((s) => integer("seeds", s.trim()))
      : Array.from({ length: integer("runs", values.runs ?? "3") }, (_, i) => integer("first-seed", values["first-seed"] ?? "1") + i)
  const reports: Array<ChaosReport> = []
  for (const seed of seeds) {
    const scenario = soakScenario({
      seed,
      commits: integer("commits", values.commits),
      faults: integer("faults", values.faults),
      rate: integer("rate", values.rate),
      linkValidatorPairs: values["link-validators"]
    })
    process.stdout.write(`soak: seed ${seed}, ${scenario.commits} commits, faults ${JSON.stringify(scenario.faults)}\n`)
    const report = await Effect.runPromise(runChaos(scenario, { keep: values.keep, logLevel: values.debug ? "debug" : "info" }))
    reports.push(report)
    process.stdout.write(`${formatReport(report)}\n\n`)
  }
  const failed = reports.filter((r) => !r.ok)
  process.stdout.write(
    `soak: ${reports.length - failed.length} of ${reports.length} runs passed` +
      (failed.length > 0 ? `; failed seeds: ${failed.map((r) => r.scenario.seed).join(", ")}` : "") +
      ` (${reports.map((r) => `seed ${r.scenario.seed} ${r.seconds.toFixed(0)} s`).join(", ")})\n`
  )
  return failed.length === 0 ? 0 : 1
}
