/**
 * `MetricsLayer`: the node's HTTP endpoint for operators (`/metrics`, `/status`, `/peers`: `server.ts`)
 * plus a fiber that refreshes the gauges from `StateSync`, `PeerManager`, `Network` and `CommitExecutor`
 * every `refreshIntervalMs`, followers of the network's peer events and the executor's notifications,
 * and the process and Node.js collectors. It requires nothing: the services (and `Discovery`, for the
 * node's role in `/status`) are read with `Effect.serviceOption` from whatever the layer is built over,
 * so provide it the node's layer.
 */
import { Duration, Effect, Layer, type Scope } from "effect"
import { MetricsServer, type MetricsListenFailed, type MetricsServerService } from "../../services/Metrics.js"
import { registerMetrics } from "./definitions.js"
import { followEvents } from "./events.js"
import { gaugeSources, refreshGauges } from "./gauges.js"
import { startProcessMetrics } from "./registry.js"
import { makeMetricsServer, type MetricsServerConfig } from "./server.js"

/** Default refresh interval of the gauges. */
export const DEFAULT_REFRESH_INTERVAL_MS = 1_000

/** Configuration of `MetricsLayer`. */
export interface MetricsConfig extends MetricsServerConfig {
  /** How often the gauges are read from the services (default 1 s). */
  readonly refreshIntervalMs?: number
}

const make = (config: MetricsConfig): Effect.Effect<MetricsServerService, MetricsListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    yield* registerMetrics
    yield* Effect.sync(startProcessMetrics)
    const sources = yield* gaugeSources
    yield* followEvents(sources)
    const refresh = refreshGauges(sources)
    // Set once before serving, so that the first scrape already has real values.
    yield* refresh
    yield* refresh.pipe(
      Effect.delay(Duration.millis(config.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS)),
      Effect.catchAllCause((cause) => Effect.logWarning("metrics refresh failed", cause)),
      Effect.forever,
      Effect.forkScoped
    )
    return yield* makeMetricsServer(config)
  })

/** Serves the node's metrics; the gauges follow the services present where the layer is built. */
export const MetricsLayer = (config: MetricsConfig): Layer.Layer<MetricsServer, MetricsListenFailed> => Layer.scoped(MetricsServer, make(config))

/** Exposed for tests and programs that want the service without a Layer. */
export const makeMetrics = make
