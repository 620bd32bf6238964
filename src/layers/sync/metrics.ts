/** What state sync counts: commits and blocks delivered, and each offence found by the plan (by reason). */
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

/** Counts an offence and logs it (the peer ledger is told separately). */
export const recordOffence = ({ detail, peer, reason }: SyncOffence): Effect.Effect<void> =>
  Effect.zipRight(recordInvalidData(reason), Effect.logWarning(`peer ${peer.slice(0, 8)} banned by sync (${reason}): ${detail}`))
