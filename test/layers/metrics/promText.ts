/**
 * A strict parser of the Prometheus text format 0.0.4, for the tests: it throws on anything a
 * Prometheus server would refuse (bad names, bad escapes, a sample outside its family, a repeated
 * family or series, histogram buckets that are not cumulative or lack `+Inf`), and returns the
 * families with their samples.
 */
export interface PromSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface PromFamily {
  readonly name: string
  readonly type: string
  readonly help: string | undefined
  readonly samples: Array<PromSample>
}

const METRIC_NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*"
const LABEL_NAME = "[a-zA-Z_][a-zA-Z0-9_]*"
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"'
// Go's ParseFloat, which Prometheus uses, reads Inf and NaN in any case (prom-client writes "Nan").
const VALUE = "(?:[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)|[nN][aA][nN]|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)"
const SAMPLE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL_NAME}=${LABEL_VALUE})(?:,${LABEL_NAME}=${LABEL_VALUE})*)?\\})? (${VALUE})$`)
const LABEL = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, "g")
const HELP = new RegExp(`^# HELP (${METRIC_NAME}) (.*)$`)
const TYPE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`)

const unescape = (quoted: string): string =>
  quoted.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))

const parseValue = (text: string): number => {
  const lower = text.toLowerCase()
  if (lower === "nan") return Number.NaN
  if (lower.endsWith("inf") || lower.endsWith("infinity")) return lower.startsWith("-") ? -Infinity : Infinity
  return Number(text)
}

/** The family a sample name belongs to, given the family's type. */
const familyOf = (sampleName: string, family: PromFamily): boolean => {
  if (family.type === "histogram") return [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sampleName)
  if (family.type === "summary") return [family.name, `${family.name}_sum`, `${family.name}_count`].includes(sampleName)
  return sampleName === family.name
}

const checkHistogram = (family: PromFamily): void => {
  const seriesKey = (labels: Readonly<Record<string, string>>) =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== "le").sort())
  const groups = new Map<string, { buckets: Array<[number, number]>; count: number | undefined }>()
  for (const s of family.samples) {
    const key = seriesKey(s.labels)
    const group = groups.get(key) ?? { buckets: [], count: undefined }
    groups.set(key, group)
    if (s.name.endsWith("_bucket")) {
      const le = s.labels["le"]
      if (le === undefined) throw new Error(`${s.name}: bucket without le`)
      group.buckets.push([parseValue(le), s.value])
    } else if (s.name.endsWith("_count")) group.count = s.value
  }
  for (const [key, group] of groups) {
    for (let i = 1; i < group.buckets.length; i++) {
      const [prevLe, prevCount] = group.buckets[i - 1]!
      const [le, count] = group.buckets[i]!
      if (!(le > prevLe) || count < prevCount) throw new Error(`${family.name}${key}: buckets not ascending or not cumulative`)
    }
    const last = group.buckets[group.buckets.length - 1]
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`)
    if (group.count !== last[1]) throw new Error(`${family.name}${key}: _count ${group.count} differs from the +Inf bucket ${last[1]}`)
  }
}

/** Parses `text`, or throws naming the first offending line. */
export const parsePrometheusText = (text: string): ReadonlyArray<PromFamily> => {
  if (text !== "" && !text.endsWith("\n")) throw new Error("text does not end with a line feed")
  const families: Array<PromFamily> = []
  const seenFamilies = new Set<string>()
  const seenSeries = new Set<string>()
  let current: PromFamily | undefined
  const open = (name: string): PromFamily => {
    if (current?.name === name) return current
    if (seenFamilies.has(name)) throw new Error(`family ${name} appears twice`)
    seenFamilies.add(name)
    current = { name, type: "untyped", help: undefined, samples: [] }
    families.push(current)
    return current
  }
  const lines = text === "" ? [] : text.slice(0, -1).split("\n")
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1} (${JSON.stringify(line)}): ${why}`)
    }
    const help = HELP.exec(line)
    const type = TYPE.exec(line)
    if (help !== null) {
      const family = open(help[1]!)
      if (family.help !== undefined || family.samples.length > 0) fail("HELP repeated or after samples")
      Object.assign(family, { help: help[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c)) })
    } else if (type !== null) {
      const family = open(type[1]!)
      if (family.type !== "untyped" || family.samples.length > 0) fail("TYPE repeated or after samples")
      Object.assign(family, { type: type[2]! })
    } else if (line.startsWith("#") || line === "") {
      // Other comments and empty lines are allowed and ignored.
    } else {
      const match = SAMPLE.exec(line) ?? fail("not a valid sample line")
      const name = match[1]!
      const labels: Record<string, string> = {}
      for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) {
        if (key! in labels) fail(`label ${key} repeated`)
        labels[key!] = unescape(value!)
      }
      if (current === undefined || !familyOf(name, current)) fail(`sample ${name} outside its family`)
      const seriesKey = `${name}${JSON.stringify(Object.entries(labels).sort())}`
      if (seenSeries.has(seriesKey)) fail("series repeated")
      seenSeries.add(seriesKey)
      current!.samples.push({ name, labels, value: parseValue(match[3]!) })
    }
  })
  for (const family of families) if (family.type === "histogram") checkHistogram(family)
  return families
}

/** The value of the one sample `name` with exactly these labels (undefined when absent). */
export const sampleValue = (families: ReadonlyArray<PromFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined => {
  const wanted = JSON.stringify(Object.entries(labels).sort())
  for (const family of families) {
    for (const s of family.samples) if (s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted) return s.value
  }
  return undefined
}
