import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { executedCommitsTotal, executedTransactionsTotal, type TransactionOutcome } from "../../../src/layers/metrics/definitions.js"
import { recordExecuted } from "../../../src/layers/metrics/events.js"

const transactions = (outcome: TransactionOutcome) => Effect.map(Metric.value(Metric.tagged(executedTransactionsTotal, "outcome", outcome)), (s) => s.count)

describe("counters fed by the executor's notifications", () => {
  it.effect("an executed commit counts once, its transactions by outcome (failed ones apart from succeeded)", () =>
    Effect.gen(function* () {
      const outcomes: ReadonlyArray<TransactionOutcome> = ["succeeded", "failed", "duplicate", "undecodable"]
      const before = { commits: (yield* Metric.value(executedCommitsTotal)).count, tx: yield* Effect.forEach(outcomes, transactions) }
      yield* recordExecuted({ index: 7, digest: new Uint8Array(32), epoch: 0, executed: 5, failed: 2, duplicates: 1, undecodable: 3, newEpoch: null })
      const after = { commits: (yield* Metric.value(executedCommitsTotal)).count, tx: yield* Effect.forEach(outcomes, transactions) }
      expect(after.commits - before.commits).toBe(1)
      expect(after.tx.map((n, i) => n - before.tx[i]!)).toEqual([3, 2, 1, 3])
    })
  )
})
