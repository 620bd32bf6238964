/**
 * Renders metric snapshots in the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure: `scrape` is the only effect.
 *
 * One family per metric name, with one `# HELP` (when the metric has a description) and one `# TYPE`
 * line, its series sorted by labels so that the output is deterministic. Effect's frequency metrics
 * become counters labelled by `key`; summaries render their quantiles, `_sum` and `_count`.
 */
import { Effect, Metric, MetricState, Option, type MetricPair } from "effect"

/** The Content-Type of the format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

type FamilyType = "counter" | "gauge" | "histogram" | "summary"
type Labels = ReadonlyArray<readonly [string, string]>

interface Series {
  readonly labelKey: string
  readonly lines: ReadonlyArray<string>
}

interface Family {
  readonly name: string
  readonly type: FamilyType
  readonly help: string | undefined
  readonly series: Array<Series>
}

/** A metric or label name with every character Prometheus does not allow replaced by `_`. */
export const sanitizeName = (name: string, allowColon = true): string => {
  const cleaned = name.replace(allowColon ? /[^a-zA-Z0-9_:]/g : /[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(cleaned) || cleaned === "" ? `_${cleaned}` : cleaned
}

/** A label value, escaped: backslash, double quote and line feed. */
export const escapeLabelValue = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

/** Help text, escaped: backslash and line feed (quotes are allowed). */
export const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** A sample value as Prometheus parses it (`+Inf`, `-Inf`, `NaN`, integers without a decimal point). */
export const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Number.POSITIVE_INFINITY) return "+Inf"
  if (value === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(value)
}

const formatLabels = (labels: Labels): string =>
  labels.length === 0 ? "" : `{${labels.map(([key, value]) => `${key}="${escapeLabelValue(value)}"`).join(",")}}`

const sample = (name: string, labels: Labels, value: number | bigint): string => `${name}${formatLabels(labels)} ${formatValue(value)}`

/** Sorted by key; a key given twice keeps its last value (Prometheus refuses duplicate label names). */
const labelsOf = (pair: MetricPair.MetricPair.Untyped): Labels => {
  const byKey = new Map<string, string>()
  for (const label of pair.metricKey.tags) byKey.set(sanitizeName(label.key, false), label.value)
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The family type and sample lines of one metric, or `undefined` for a state this renderer does not know. */
const render = (name: string, labels: Labels, state: MetricState.MetricState.Untyped): { type: FamilyType; lines: Array<string> } | undefined => {
  if (MetricState.isCounterState(state)) return { type: "counter", lines: [sample(name, labels, state.count)] }
  if (MetricState.isGaugeState(state)) return { type: "gauge", lines: [sample(name, labels, state.value)] }
  if (MetricState.isFrequencyState(state)) {
    const words = [...state.occurrences.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return { type: "counter", lines: words.map(([word, count]) => sample(name, [...labels, ["key", word]], count)) }
  }
  if (MetricState.isHistogramState(state)) {
    const lines = state.buckets.map(([le, count]) => sample(`${name}_bucket`, [...labels, ["le", formatValue(le)]], count))
    // Effect's boundaries end with +Inf; a histogram built otherwise still needs that bucket.
    const last = state.buckets[state.buckets.length - 1]
    if (last === undefined || last[0] !== Number.POSITIVE_INFINITY) lines.push(sample(`${name}_bucket`, [...labels, ["le", "+Inf"]], state.count))
    lines.push(sample(`${name}_sum`, labels, state.sum), sample(`${name}_count`, labels, state.count))
    return { type: "histogram", lines }
  }
  if (MetricState.isSummaryState(state)) {
    const lines = state.quantiles.map(([q, value]) => sample(name, [...labels, ["quantile", formatValue(q)]], Option.getOrElse(value, () => Number.NaN)))
    lines.push(sample(`${name}_sum`, labels, state.sum), sample(`${name}_count`, labels, state.count))
    return { type: "summary", lines }
  }
  return undefined
}

/** The exposition text of a snapshot (`Metric.snapshot`), ending with a line feed. */
export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const name = sanitizeName(pair.metricKey.name)
    const labels = labelsOf(pair)
    const rendered = render(name, labels, pair.metricState)
    if (rendered === undefined) continue
    const existing = families.get(name)
    // A family has one type: a same-named metric of another type would make the whole scrape invalid.
    if (existing !== undefined && existing.type !== rendered.type) continue
    const family = existing ?? { name, type: rendered.type, help: Option.getOrUndefined(pair.metricKey.description), series: [] }
    const labelKey = formatLabels(labels)
    // Same name and labels but another description or boundaries: a second series would be a duplicate.
    if (family.series.some((s) => s.labelKey === labelKey)) continue
    family.series.push({ labelKey, lines: rendered.lines })
    families.set(name, family)
  }
  const out: Array<string> = []
  for (const family of [...families.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (family.help !== undefined) out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${family.name} ${family.type}`)
    for (const series of family.series.sort((a, b) => (a.labelKey < b.labelKey ? -1 : a.labelKey > b.labelKey ? 1 : 0))) out.push(...series.lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

/** The current exposition text of every metric in the global registry. */
export const scrape: Effect.Effect<string> = Effect.map(Metric.snapshot, renderPrometheus)
