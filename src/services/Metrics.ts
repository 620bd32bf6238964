/**
 * The `MetricsServer` service: the node's HTTP endpoint for operators (DESIGN.md §9) — its metrics in
 * the Prometheus text format at `/metrics`, and what it is doing as JSON at `/status` and `/peers`
 * (`src/layers/metrics/server.ts`). The metrics live in the node's prom-client registry
 * (`src/layers/metrics/registry.ts`; names and help in `definitions.ts`); this handle only tells
 * where they are served.
 */
import { Context, Data } from "effect"

/** The metrics server could not listen on its address. */
export class MetricsListenFailed extends Data.TaggedError("MetricsListenFailed")<{
  readonly address: string
  readonly detail: string
}> {
  override get message(): string {
    return `metrics server cannot listen on ${this.address}: ${this.detail}`
  }
}

export interface MetricsServerService {
  /** The host the server is bound to. */
  readonly host: string
  /** The bound port (the real one when port 0 was asked for). */
  readonly port: number
  /** The scrape URL, e.g. `http://127.0.0.1:9184/metrics`. */
  readonly url: string
  /** The endpoint's root, e.g. `http://127.0.0.1:9184` (`/status`, `/peers` and `/metrics` are under it). */
  readonly baseUrl: string
}

/** Tag of the `MetricsServer` service. */
export class MetricsServer extends Context.Tag("soma-p2p/MetricsServer")<MetricsServer, MetricsServerService>() {}
