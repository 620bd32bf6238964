/**
 * The exposition of `/metrics`: the node's prom-client registry (`registry.ts`) in the Prometheus text
 * format, version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), rendered by
 * prom-client.
 */
import { Effect } from "effect"
import { nodeRegistry, startProcessMetrics } from "./registry.js"

/** The Content-Type of the format. */
export const PROMETHEUS_CONTENT_TYPE: string = nodeRegistry.contentType

/**
 * The current exposition text of the node's registry, ending with a line feed. Asynchronous: run it
 * with `Runtime.runPromise` or inside an Effect handler. Starts the process collectors if nothing did.
 */
export const scrape: Effect.Effect<string> = Effect.promise(async () => {
  startProcessMetrics()
  const text = await nodeRegistry.metrics()
  return text.endsWith("\n") || text === "" ? text : `${text}\n`
})
