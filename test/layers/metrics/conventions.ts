/**
 * The Prometheus conventions that `promtool check metrics` enforces, as a test helper, plus `promtool`
 * itself when it is installed. The text is read by two parsers: `parse-prometheus-text-format` (npm) for
 * the families, their HELP and TYPE; and the strict parser of `promText.ts` for the series (it keeps
 * the labels of histogram series apart, which the npm parser merges, and checks buckets per series).
 */
import { spawnSync } from "node:child_process"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { parsePrometheusText, type PromFamily } from "./promText.js"

const SNAKE_CASE = /^[a-z_:][a-z0-9_:]*$/
/** Unit words in a name that are not base units or are abbreviated (promtool's list, plus a few). */
const NON_BASE_UNITS = /(^|_)(ms|us|ns|sec|secs|millis|milliseconds|microseconds|nanoseconds|minutes|hours|days|kb|mb|gb|kib|mib|gib|kilobytes|megabytes|percent|pct)(_|$)/
/** Label names that carry a unit, and unit words as label values (the unit belongs in the name). */
const UNIT_LABEL = /(^|_)unit(s)?$/
const UNIT_VALUE = /^(milliseconds|microseconds|nanoseconds|seconds|ms|us|ns|s|bytes|kilobytes|megabytes)$/

/** A problem found in an exposition, naming the family. */
export type Problem = string

const suffixProblems = (family: PromFamily): Array<Problem> => {
  const problems: Array<Problem> = []
  const { name, type } = family
  if (type === "counter" && !name.endsWith("_total")) problems.push(`${name}: a counter must end in _total`)
  if (type !== "counter" && name.endsWith("_total")) problems.push(`${name}: only counters end in _total`)
  if (type !== "histogram" && type !== "summary" && /_(bucket|sum|count)$/.test(name)) problems.push(`${name}: _bucket/_sum/_count are histogram and summary suffixes`)
  if (NON_BASE_UNITS.test(name)) problems.push(`${name}: unit not a base unit (seconds, bytes) or abbreviated`)
  if (!SNAKE_CASE.test(name)) problems.push(`${name}: not snake_case`)
  return problems
}

const labelProblems = (family: PromFamily): Array<Problem> => {
  const problems = new Set<Problem>()
  for (const sample of family.samples) {
    for (const [label, value] of Object.entries(sample.labels)) {
      if (!SNAKE_CASE.test(label)) problems.add(`${family.name}: label ${label} not snake_case`)
      if (UNIT_LABEL.test(label) || UNIT_VALUE.test(value)) problems.add(`${family.name}: unit in a label (${label}="${value}")`)
    }
  }
  return [...problems]
}

const summaryProblems = (family: PromFamily): Array<Problem> => {
  if (family.type !== "summary") return []
  const problems: Array<Problem> = []
  for (const sample of family.samples) {
    const q = sample.labels["quantile"]
    if (sample.name === family.name && (q === undefined || !(Number(q) >= 0 && Number(q) <= 1))) problems.push(`${family.name}: quantile ${q} outside [0, 1]`)
  }
  const names = new Set(family.samples.map((s) => s.name))
  if (family.samples.length > 0 && !(names.has(`${family.name}_sum`) && names.has(`${family.name}_count`))) problems.push(`${family.name}: summary without _sum or _count`)
  return problems
}

const histogramProblems = (family: PromFamily): Array<Problem> => {
  if (family.type !== "histogram") return []
  // Buckets per series (cumulative, ending at +Inf = _count) are checked by `parsePrometheusText`.
  const key = (labels: Readonly<Record<string, string>>) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== "le").sort())
  const withSum = new Set(family.samples.filter((s) => s.name === `${family.name}_sum`).map((s) => key(s.labels)))
  return family.samples
    .filter((s) => s.name === `${family.name}_count` && !withSum.has(key(s.labels)))
    .map((s) => `${family.name}${key(s.labels)}: histogram series without _sum`)
}

/**
 * Every convention problem of `text`: invalid text throws (from either parser); a family without HELP
 * or TYPE, a misnamed family, a unit in a label, a malformed histogram or summary is listed.
 */
export const conventionProblems = (text: string): ReadonlyArray<Problem> => {
  const families = parsePrometheusText(text)
  const independent = parsePrometheusTextFormat(text)
  const problems: Array<Problem> = []
  for (const family of independent) {
    if (family.help.trim() === "") problems.push(`${family.name}: no HELP`)
    if (family.type === "UNTYPED") problems.push(`${family.name}: no TYPE`)
  }
  if (independent.length !== families.length) problems.push(`the two parsers disagree: ${independent.length} and ${families.length} families`)
  for (const family of families) problems.push(...suffixProblems(family), ...labelProblems(family), ...summaryProblems(family), ...histogramProblems(family))
  return problems
}

/** The names a query can select in `text`: each family's samples, with histogram and summary suffixes. */
export const selectableNames = (text: string): ReadonlySet<string> => {
  const names = new Set<string>()
  for (const family of parsePrometheusText(text)) {
    if (family.type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${family.name}${suffix}`)
    else if (family.type === "summary") for (const suffix of ["", "_sum", "_count"]) names.add(`${family.name}${suffix}`)
    else names.add(family.name)
  }
  return names
}

/** The `promtool` binary, when installed (Debian's `prometheus` package ships it); CI need not have it. */
export const promtoolPath: string | undefined = (() => {
  const found = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" })
  return found.status === 0 && found.stdout.trim() !== "" ? found.stdout.trim() : undefined
})()

/** `promtool check metrics` on `text`: its exit code and what it printed (nothing when clean). */
export const promtoolCheck = (promtool: string, text: string): { readonly status: number | null; readonly output: string } => {
  const run = spawnSync(promtool, ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 })
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() }
}
