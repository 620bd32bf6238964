/**
 * Reads the Grafana dashboard of `deploy/grafana/` for the tests: its queries, and the metric names each
 * selects, found by parsing the PromQL with Prometheus's own grammar (`@prometheus-io/lezer-promql`).
 */
import { readFileSync } from "node:fs"
import { parser } from "@prometheus-io/lezer-promql"

/** The dashboard file, from the project root (where vitest runs). */
export const DASHBOARD_PATH = "deploy/grafana/soma-p2p.json"

interface Target {
  readonly expr?: string
  readonly refId?: string
}

export interface Panel {
  readonly type: string
  readonly title: string
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number }
  readonly targets?: ReadonlyArray<Target>
  readonly panels?: ReadonlyArray<Panel>
}

export interface Dashboard {
  readonly uid: string
  readonly title: string
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly type: string; readonly definition?: string }> }
}

/** One query of the dashboard: where it is and its text. */
export interface DashboardQuery {
  readonly where: string
  readonly expr: string
}

export const loadDashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD_PATH, "utf8")) as Dashboard

/** Every panel, rows' nested panels included. */
export const allPanels = (dashboard: Dashboard): ReadonlyArray<Panel> => dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])

/** Every PromQL query of the panels. */
export const panelQueries = (dashboard: Dashboard): ReadonlyArray<DashboardQuery> =>
  allPanels(dashboard).flatMap((panel) => (panel.targets ?? []).map((t) => ({ where: `${panel.title} / ${t.refId ?? "?"}`, expr: t.expr ?? "" })))

/**
 * Grafana's variables replaced by values PromQL accepts: the interval variables by a duration, any
 * other variable (used inside label matchers) by a word.
 */
export const withVariablesExpanded = (expr: string): string =>
  expr.replace(/\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}/g, "5m").replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, "value")

/** The metric names a PromQL expression selects, or the parse errors' positions. */
export const selectedMetrics = (expr: string): { readonly names: ReadonlyArray<string>; readonly errors: ReadonlyArray<number> } => {
  const text = withVariablesExpanded(expr)
  const names = new Set<string>()
  const errors: Array<number> = []
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from)
      // The metric name of a selector is its Identifier child (`foo{…}`); `{__name__="foo"}` too.
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") names.add(text.slice(node.from, node.to))
      if (node.name === "UnquotedLabelMatcher") {
        const matcher = text.slice(node.from, node.to).match(/^__name__\s*=\s*"([^"]*)"$/)
        if (matcher?.[1] !== undefined) names.add(matcher[1])
      }
    }
  })
  return { names: [...names], errors }
}

/** The metric of each `label_values(metric, label)` query of the template variables. */
export const variableMetrics = (dashboard: Dashboard): ReadonlyArray<DashboardQuery> =>
  dashboard.templating.list.flatMap((v) => {
    const metric = v.definition?.match(/^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/)?.[1]
    return metric === undefined ? [] : [{ where: `variable ${v.name}`, expr: metric }]
  })

/** `[where, name]` of every metric the dashboard selects that is not in `exported`. */
export const unknownMetrics = (dashboard: Dashboard, exported: ReadonlySet<string>): ReadonlyArray<readonly [string, string]> => [
  ...panelQueries(dashboard).flatMap((q) => selectedMetrics(q.expr).names.filter((n) => !exported.has(n)).map((n) => [q.where, n] as const)),
  ...variableMetrics(dashboard).filter((q) => !exported.has(q.expr)).map((q) => [q.where, q.expr] as const)
]
