/** What state sync counts: commits and blocks delivered, and each invalid-data offence found by the plan (by reason). */
import { Effect, Metric } from "effect"
import type { CommittedSubDag } from "../../domain/commit.js"
import { blocksSyncedTotal, commitsSyncedTotal, recordInvalidData } from "../metrics/definitions.js"
import type { SyncOffence } from "./plan/types.js"

/** Counts a delivered batch of commits and their blocks. */
export const recordDelivered = (subDags: ReadonlyArray<CommittedSubDag>): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.incrementBy(commitsSyncedTotal, subDags.length),
    Metric.incrementBy(blocksSyncedTotal, subDags.reduce((n, s) => n + s.blocks.length, 0))
  )

/** Counts an offence of invalid data and logs any offence (the peer ledger is told separately). */
export const recordOffence = ({ detail, peer, reason }: SyncOffence): Effect.Effect<void> =>
  reason === "unserved_claim"
    ? Effect.logWarning(`peer ${peer.slice(0, 8)} reported by sync (${reason}): ${detail}`)
    : Effect.zipRight(recordInvalidData(reason), Effect.logWarning(`peer ${peer.slice(0, 8)} banned by sync (${reason}): ${detail}`))
