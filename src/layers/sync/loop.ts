/**
 * The sync loop (DESIGN.md §6): one fiber owns the plan. It takes the events waiting in its mailbox,
 * applies each as a pure transition, lets `schedule` decide what to do, and dispatches: every fetch to
 * its own worker fiber, the head range to the delivery worker. It never awaits I/O, so a slow peer or a
 * slow disk never holds it; offences the transitions found are reported to the peer ledger.
 */
import { Clock, Effect, Option, Queue, Ref, Schedule, type Scope } from "effect"
import type { SyncRuntime } from "./builder.js"
import { TICK_MS } from "./constants.js"
import type { Delivery } from "./delivery.js"
import { recordOffence } from "./metrics.js"
import { applyEvent } from "./plan/events.js"
import { takeOffences } from "./plan/peers.js"
import { schedule } from "./plan/schedule.js"
import { runFetch } from "./workers.js"

/** Starts the loop, the hint forwarder and the tick; they run until the scope closes. */
export const startLoop = (rt: SyncRuntime, delivery: Delivery): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const iteration = Effect.gen(function* () {
      const first = yield* Queue.take(rt.events)
      const rest = yield* Queue.takeAll(rt.events)
      const now = yield* Clock.currentTimeMillis
      let plan = applyEvent(yield* Ref.get(rt.plan), first, now)
      for (const event of rest) plan = applyEvent(plan, event, now)
      // Ranges are budgeted at ≥ committee size blocks per commit before any commit has been seen (a
      // commit of n validators references ≈ n blocks). The committee is cached after its first read.
      const committee = yield* Effect.orElseSucceed(rt.committees.get(plan.nextEpoch), () => Option.none())
      const committeeSize = Option.match(committee, { onNone: () => 0, onSome: (c) => c.authorities.length })
      const scheduled = schedule(plan, now, rt.planConfig, committeeSize)
      const found = takeOffences(scheduled.plan)
      yield* Ref.set(rt.plan, found.plan)
      for (const command of scheduled.commands) {
        yield* Effect.forkIn(command._tag === "Deliver" ? delivery.deliver(command) : runFetch(rt, command), rt.scope)
      }
      for (const offence of found.offences)
        yield* Effect.zipRight(recordOffence(offence), rt.reportOffence(offence.peer, offence.offence, `${offence.reason}: ${offence.detail}`))
    })

    yield* iteration.pipe(
      Effect.catchAllCause((cause) => Effect.logError("state sync iteration failed; continuing", cause)),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Queue.take(rt.hints).pipe(
      Effect.flatMap((event) => Queue.offer(rt.events, event)),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Queue.offer(rt.events, { _tag: "Tick" }).pipe(Effect.repeat(Schedule.spaced(TICK_MS)), Effect.forkScoped)
  })
