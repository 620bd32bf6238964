/**
 * The node's HTTP endpoint for operators, served with `@effect/platform`'s `HttpRouter` on
 * `@effect/platform-node`'s `NodeHttpServer`:
 *
 * - `GET /metrics`: the Prometheus text of the node's registry (`prometheus.ts`);
 * - `GET /status`: what the node is doing, as JSON (`StatusAnswer`, `layers/status/statusView.ts`);
 * - `GET /peers[?limit=N]`: the peers it knows, as JSON (`PeersAnswer`, `layers/status/peersView.ts`),
 *   at most `N` (default 100, at most 10,000, the peer ledger's own bound), most useful first.
 *
 * `HEAD` is answered like `GET` without the body; another method on these paths is 405, any other path
 * 404, a malformed request 400 (Node's own answer), and a service that cannot be read 503 — nothing a
 * client sends can crash the node. The services are read with `Effect.serviceOption` from the context
 * the server is made in, so it serves what the node has. Bound to 127.0.0.1 unless told otherwise; it
 * lives as long as its scope, and closing the scope also drops open keep-alive connections, so a
 * scraper cannot hold the node's shutdown.
 */
import { createServer, type Server } from "node:http"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Clock, Effect, Runtime, Schema, type Scope } from "effect"
import { MetricsListenFailed, type MetricsServerService } from "../../services/Metrics.js"
import { DEFAULT_PEERS_LIMIT, MAX_PEERS_LIMIT } from "../status/peersView.js"
import { readPeers, readStatus, statusServices, type StatusServices } from "../status/sources.js"
import { PROMETHEUS_CONTENT_TYPE, scrape } from "./prometheus.js"

/** Where the endpoint is served. */
export interface MetricsServerConfig {
  /** Default `127.0.0.1`: metrics and status stay off public interfaces unless the operator says so. */
  readonly host?: string
  /** `0` picks a free port (see `MetricsServer.port`). */
  readonly port: number
}

/** The Prometheus text. */
export const METRICS_PATH = "/metrics"
/** The node's status as JSON. */
export const STATUS_PATH = "/status"
/** The known peers as JSON. */
export const PEERS_PATH = "/peers"

const hostForUrl = (host: string): string => (host.includes(":") ? `[${host}]` : host)

const TEXT = "text/plain; charset=utf-8"
/** Answers describe the node now: no cache may keep them. */
const NO_STORE = { "cache-control": "no-store" } as const

const plain = (status: number, body: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.text(body, { status, contentType: TEXT, headers: { ...NO_STORE, ...headers } })

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status, headers: NO_STORE })

/** Serves `GET` (and `HEAD`, which Node answers without the body); any other method is 405. */
const readOnly = <E, R>(respond: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    request.method === "GET" || request.method === "HEAD" ? respond : Effect.succeed(plain(405, "method not allowed\n", { allow: "GET, HEAD" }))
  )

/** `?limit=N`: an integer from 0 to `MAX_PEERS_LIMIT`. */
const PeersQuery = Schema.Struct({
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, MAX_PEERS_LIMIT)))
})

/** The routes, over the node's services. */
export const statusRouter = (services: StatusServices, startedAtMs: number) =>
  HttpRouter.empty.pipe(
    HttpRouter.all(
      METRICS_PATH,
      readOnly(
        scrape.pipe(
          Effect.map((body) => HttpServerResponse.text(body, { contentType: PROMETHEUS_CONTENT_TYPE, headers: NO_STORE })),
          Effect.catchAllCause((cause) => Effect.succeed(plain(500, `cannot render metrics: ${errorText(Cause.squash(cause))}\n`)))
        )
      )
    ),
    HttpRouter.all(
      STATUS_PATH,
      readOnly(
        readStatus(services, startedAtMs).pipe(
          Effect.map((answer) => json(200, answer)),
          Effect.catchTag("StatusUnavailable", (error) => Effect.succeed(json(503, { error: error.message })))
        )
      )
    ),
    HttpRouter.all(
      PEERS_PATH,
      readOnly(
        HttpServerRequest.schemaSearchParams(PeersQuery).pipe(
          Effect.matchEffect({
            onFailure: () => Effect.succeed(json(400, { error: `limit must be an integer from 0 to ${MAX_PEERS_LIMIT}` })),
            onSuccess: ({ limit }) =>
              readPeers(services, limit ?? DEFAULT_PEERS_LIMIT).pipe(
                Effect.map((answer) => json(200, answer)),
                Effect.catchTag("StatusUnavailable", (error) => Effect.succeed(json(503, { error: error.message })))
              )
          })
        )
      )
    ),
    Effect.catchTag("RouteNotFound", () => Effect.succeed(plain(404, "not found\n")))
  )

/** Closes the listener and every connection (idle keep-alive ones included), and waits for the close. */
const closeNow = (server: Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (!server.listening) return resume(Effect.void)
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

/** Serves `/metrics`, `/status` and `/peers` until the scope closes. */
export const makeMetricsServer = (config: MetricsServerConfig): Effect.Effect<MetricsServerService, MetricsListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const host = config.host ?? "127.0.0.1"
    const services = yield* statusServices
    const startedAtMs = yield* Clock.currentTimeMillis
    const runtime = yield* Effect.runtime<never>()
    const nodeServer = createServer()
    const server = yield* NodeHttpServer.make(() => nodeServer, { host, port: config.port }).pipe(
      Effect.mapError((error) => new MetricsListenFailed({ address: `${host}:${config.port}`, detail: errorText(error.cause) }))
    )
    // Once listening, errors are logged: an 'error' event without a listener would crash the process.
    nodeServer.on("error", (error) => Runtime.runFork(runtime)(Effect.logWarning(`metrics server: ${error.message}`)))
    yield* server.serve(statusRouter(services, startedAtMs))
    // Added last, so it runs first when the scope closes: the platform's own close would wait for
    // keep-alive connections in use.
    yield* Effect.addFinalizer(() => closeNow(nodeServer))
    const port = server.address._tag === "TcpAddress" ? server.address.port : config.port
    const base = `http://${hostForUrl(host)}:${port}`
    yield* Effect.logDebug(`metrics and status served on ${base} (${METRICS_PATH}, ${STATUS_PATH}, ${PEERS_PATH})`)
    return { host, port, url: `${base}${METRICS_PATH}`, baseUrl: base }
  })
