/**
 * `soma-p2p status --url http://127.0.0.1:9184`: asks a running node what it is doing (`GET /status`,
 * and `GET /peers` for the best few peers) on its metrics port and prints a short summary, or the
 * `/status` JSON with `--json`. A node that cannot be reached, or an answer that is not a soma-p2p
 * status, is one clear line on stderr and exit code 1.
 */
import { Command, Options } from "@effect/cli"
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Data, Duration, Effect, Schema } from "effect"
import { PeersAnswer, type PeerEntry } from "../../layers/status/peersView.js"
import { StatusAnswer } from "../../layers/status/statusView.js"

/** Exit code when the node cannot be reached or does not answer as a soma-p2p node does. */
export const EXIT_UNREACHABLE = 1

/** How long one request may take: the node answers from memory, so more means it is stuck. */
export const REQUEST_TIMEOUT = Duration.seconds(5)

/** The default endpoint: a node run with `--metrics-port 9184` on this machine. */
export const DEFAULT_STATUS_URL = "http://127.0.0.1:9184"

/** Why the status could not be shown. */
export class StatusCommandFailed extends Data.TaggedError("StatusCommandFailed")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** The endpoint's root from what the operator typed: a trailing `/`, `/status`, `/peers` or `/metrics` is dropped. */
export const endpointRoot = (url: string): string => url.trim().replace(/\/+$/, "").replace(/\/(status|peers|metrics)$/, "")

/** The innermost error code or message of a transport failure (`ECONNREFUSED`, `ENOTFOUND`, …). */
const transportDetail = (cause: unknown): string => {
  let current: unknown = cause
  for (let depth = 0; depth < 5 && current !== null && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    const next = (current as { cause?: unknown }).cause
    if (next === undefined) return String((current as { message?: unknown }).message ?? current)
    current = next
  }
  return String(current)
}

/** GETs `root + path` and decodes the JSON answer with `schema`; every failure is a `StatusCommandFailed` that says what happened. */
const getJson = <A, I>(root: string, path: string, schema: Schema.Schema<A, I>) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const url = `${root}${path}`
    const response = yield* client.get(url).pipe(
      Effect.timeoutFail({ duration: REQUEST_TIMEOUT, onTimeout: () => new StatusCommandFailed({ detail: `no answer from ${url} within ${Duration.format(REQUEST_TIMEOUT)}` }) }),
      Effect.catchTag("RequestError", (error) =>
        Effect.fail(
          new StatusCommandFailed({
            detail:
              error.reason === "InvalidUrl"
                ? `not a URL: ${root} (expected e.g. ${DEFAULT_STATUS_URL})`
                : `cannot reach the node at ${root}: ${transportDetail(error.cause)} (is it running with --metrics-port, on this host and port?)`
          })
        )
      ),
      Effect.catchTag("ResponseError", (error) => Effect.fail(new StatusCommandFailed({ detail: `${url}: ${error.message}` })))
    )
    if (response.status !== 200) {
      const body = yield* Effect.orElseSucceed(response.text, () => "")
      return yield* new StatusCommandFailed({ detail: `${url} answered HTTP ${response.status}: ${body.trim().slice(0, 200) || "(no body)"}` })
    }
    return yield* HttpClientResponse.schemaBodyJson(schema)(response).pipe(
      Effect.mapError(() => new StatusCommandFailed({ detail: `${url} did not answer as a soma-p2p node does (is this the node's metrics port?)` }))
    )
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

/** `1h 02m 03s`, `4m 05s`, `6s`. */
export const formatUptime = (seconds: number): string => {
  const s = Math.floor(seconds)
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60]
  const pad = (n: number) => String(n).padStart(2, "0")
  return h > 0 ? `${h}h ${pad(m)}m ${pad(r)}s` : m > 0 ? `${m}m ${pad(r)}s` : `${r}s`
}

const orDash = (value: number | string | null): string => (value === null ? "-" : String(value))

const peerLine = (peer: PeerEntry): string =>
  [
    `  ${peer.peerId.slice(0, 16)}`,
    (peer.banned ? "Banned" : peer.state).padEnd(12),
    (peer.address ?? "-").padEnd(22),
    `score ${peer.score === null ? "-" : peer.score.toFixed(2)}`,
    `rtt ${peer.rttMs === null ? "-" : `${peer.rttMs} ms`}`,
    `height ${orDash(peer.claimedHeight)}`
  ].join("  ")

/** The human summary of a status answer, and of the best peers when given. */
export const renderStatus = (status: StatusAnswer, peers?: PeersAnswer): string => {
  const h = status.heights
  const sync =
    status.sync === null
      ? "-"
      : `${status.sync.state}${status.sync.behind > 0 ? ` (${status.sync.behind} behind)` : ""}, ${status.sync.peersWithClaims} peer${status.sync.peersWithClaims === 1 ? "" : "s"} with a height claim`
  const lines = [
    `node     ${orDash(status.peerId)}`,
    `         ${orDash(status.role)}, soma-p2p ${status.version}, up ${formatUptime(status.uptimeSeconds)}`,
    `epoch    ${orDash(status.epoch)}`,
    `heights  stored ${orDash(h.stored)}, certified ${orDash(h.certified)}, executed ${orDash(h.executed)}, network ${orDash(h.networkTarget)}`,
    `sync     ${sync}`,
    `peers    ${status.peers.connected} connected, ${orDash(status.peers.known)} known, ${orDash(status.peers.banned)} banned`
  ]
  if (peers !== undefined && peers.peers.length > 0) {
    lines.push(`top peers (${peers.peers.length} of ${peers.total})`, ...peers.peers.map(peerLine))
  }
  return lines.join("\n") + "\n"
}

/** What `status` prints, for these options (no printing: the command does that). */
export const statusReport = (options: { readonly url: string; readonly peers: number; readonly json: boolean }): Effect.Effect<string, StatusCommandFailed> =>
  Effect.gen(function* () {
    const root = endpointRoot(options.url)
    const status = yield* getJson(root, "/status", StatusAnswer)
    if (options.json) return JSON.stringify(Schema.encodeSync(StatusAnswer)(status), null, 2) + "\n"
    const peers = options.peers > 0 ? yield* getJson(root, `/peers?limit=${options.peers}`, PeersAnswer) : undefined
    return renderStatus(status, peers)
  })

/** The `status` subcommand. */
export const statusCommand = Command.make(
  "status",
  {
    url: Options.text("url").pipe(Options.withDefault(DEFAULT_STATUS_URL), Options.withDescription("the node's metrics endpoint (its --metrics-port)")),
    peers: Options.integer("peers").pipe(Options.withDefault(5), Options.withDescription("list this many of the best peers (0: none)")),
    json: Options.boolean("json").pipe(Options.withDescription("print the node's /status answer as JSON instead"))
  },
  (options) =>
    statusReport({ ...options, peers: Math.max(0, options.peers) }).pipe(
      Effect.flatMap((text) => Effect.sync(() => process.stdout.write(text))),
      Effect.catchTag("StatusCommandFailed", (error) =>
        Effect.sync(() => {
          process.stderr.write(`soma-p2p status: ${error.message}\n`)
          process.exitCode = EXIT_UNREACHABLE
        })
      )
    )
).pipe(Command.withDescription("print what a running node is doing (its /status on the metrics port)"))
