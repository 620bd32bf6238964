import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { registerMetrics } from "../../../src/layers/metrics/definitions.js"
import { scrape } from "../../../src/layers/metrics/prometheus.js"
import { selectableNames } from "./conventions.js"
import { allPanels, loadDashboard, panelQueries, selectedMetrics, unknownMetrics, variableMetrics } from "./dashboard.js"

describe("the Grafana dashboard (deploy/grafana/soma-p2p.json)", () => {
  const dashboard = loadDashboard()

  it("is a dashboard whose every query is valid PromQL and lays out on Grafana's 24-column grid", () => {
    expect(dashboard.uid).toBe("soma-p2p")
    const queries = panelQueries(dashboard)
    expect(queries.length).toBeGreaterThan(20)
    for (const query of queries) {
      const { errors, names } = selectedMetrics(query.expr)
      expect(errors, `${query.where}: ${query.expr}`).toEqual([])
      expect(names.length, `${query.where} selects no metric`).toBeGreaterThan(0)
    }
    for (const panel of allPanels(dashboard)) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24)
      if (panel.type !== "row") expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0)
    }
    expect(variableMetrics(dashboard).map((v) => v.expr)).toEqual(["soma_p2p_synced_height"])
  })

  it("the query parser finds the selected names (and catches a broken query)", () => {
    expect(selectedMetrics('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$instance"}[$__rate_interval]))) / on() b + {__name__="c"}')).toEqual({
      names: ["a_bucket", "b", "c"],
      errors: []
    })
    expect(selectedMetrics("rate(a[5m]").errors.length).toBeGreaterThan(0)
  })

  it.effect("selects only metrics the node exports, and shows every node metric", () =>
    Effect.gen(function* () {
      yield* registerMetrics
      const exported = selectableNames(yield* scrape)
      expect(unknownMetrics(dashboard, exported)).toEqual([])
      // A node metric no panel shows is a metric an operator never sees: add it to a panel.
      const shown = new Set(panelQueries(dashboard).flatMap((q) => selectedMetrics(q.expr).names.map((n) => n.replace(/_(bucket|sum|count)$/, ""))))
      const nodeMetrics = [...exported].filter((n) => n.startsWith("soma_p2p_")).map((n) => n.replace(/_(bucket|sum|count)$/, ""))
      expect([...new Set(nodeMetrics)].filter((n) => !shown.has(n))).toEqual([])
    })
  )
})
