/**
 * The HTTP endpoint of the metrics: `GET /metrics` answers the Prometheus text of the global registry,
 * anything else 404 (405 for another method on `/metrics`). Plain `node:http`: one route does not need
 * a framework. The server lives as long as its scope; closing it also drops idle keep-alive
 * connections, so a scraper cannot hold the node's shutdown.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Runtime, type Scope } from "effect"
import { MetricsListenFailed, type MetricsServerService } from "../../services/Metrics.js"
import { PROMETHEUS_CONTENT_TYPE, scrape } from "./prometheus.js"

/** Where the metrics are served. */
export interface MetricsServerConfig {
  /** Default `127.0.0.1`: metrics stay off public interfaces unless the operator says so. */
  readonly host?: string
  /** `0` picks a free port (see `MetricsServer.port`). */
  readonly port: number
}

/** The route that is served. */
export const METRICS_PATH = "/metrics"

const hostForUrl = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/** Serves the metrics until the scope closes. */
export const makeMetricsServer = (config: MetricsServerConfig): Effect.Effect<MetricsServerService, MetricsListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const host = config.host ?? "127.0.0.1"
    const runtime = yield* Effect.runtime<never>()
    const render = Runtime.runPromise(runtime)

    const handle = (request: IncomingMessage, response: ServerResponse) => {
      const path = (request.url ?? "/").split("?")[0]
      if (path !== METRICS_PATH) {
        response.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n")
      } else if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }).end("method not allowed\n")
      } else {
        // A rejection left unhandled here would crash the node: both outcomes are answered.
        render(scrape).then(
          (body) => {
            response.writeHead(200, { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Content-Length": Buffer.byteLength(body) })
            response.end(request.method === "HEAD" ? undefined : body)
          },
          (error: unknown) => {
            response.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" }).end(`cannot render metrics: ${String(error)}\n`)
          }
        )
      }
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<ReturnType<typeof createServer>, MetricsListenFailed>((resume) => {
        const server = createServer(handle)
        const onError = (error: Error) => resume(Effect.fail(new MetricsListenFailed({ address: `${host}:${config.port}`, detail: error.message })))
        server.once("error", onError)
        server.listen(config.port, host, () => {
          server.off("error", onError)
          resume(Effect.succeed(server))
        })
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    // Once listening, errors are logged: an 'error' event without a listener would crash the process.
    server.on("error", (error) => Runtime.runFork(runtime)(Effect.logWarning(`metrics server: ${error.message}`)))
    server.on("clientError", (_error, socket) => socket.destroy())
    const port = (server.address() as AddressInfo).port
    yield* Effect.logDebug(`metrics served on http://${hostForUrl(host)}:${port}${METRICS_PATH}`)
    return { host, port, url: `http://${hostForUrl(host)}:${port}${METRICS_PATH}` }
  })
