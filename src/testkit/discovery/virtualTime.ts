/**
 * Virtual time for large simulations: a `Clock` whose sleeps wait in a priority queue, and a
 * scheduler that runs every fiber step on microtasks, so "nothing can run any more" is simply "the
 * microtask queue is empty" — one `setImmediate` away. `advance` wakes every sleeper of the next
 * instant at once, lets the world settle, and repeats.
 *
 * Why not `TestClock`: it wakes one sleeper at a time and waits for all fibers to suspend with
 * `setTimeout(0)` polls (≈ 4 ms per wake-up, measured here), and keeps the sleeps of interrupted fibers
 * (every finished call's deadline) until their time comes. A 50-node discovery run needs ~500 wake-ups
 * per tick; here that costs ~0.1 ms each. The programs under test are the same: they only see `Clock`.
 *
 * Only for programs that never wait on real I/O (the simulated network, verification inline on the
 * calling thread): a real timer or worker would be invisible to the quiescence check.
 */
import { Clock, Duration, Effect, Scheduler } from "effect"

interface Sleeper {
  readonly atMs: number
  readonly seq: number
  readonly wake: () => void
  cancelled: boolean
}

/** A binary min-heap of sleepers by (time, registration order). */
class SleeperHeap {
  private readonly items: Array<Sleeper> = []

  get size(): number {
    return this.items.length
  }

  private less(a: Sleeper, b: Sleeper): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
  }

  push(item: Sleeper): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(items[i] as Sleeper, items[parent] as Sleeper)) break
      ;[items[i], items[parent]] = [items[parent] as Sleeper, items[i] as Sleeper]
      i = parent
    }
  }

  peek(): Sleeper | undefined {
    return this.items[0]
  }

  pop(): Sleeper | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    items[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let best = i
      if (l < items.length && this.less(items[l] as Sleeper, items[best] as Sleeper)) best = l
      if (r < items.length && this.less(items[r] as Sleeper, items[best] as Sleeper)) best = r
      if (best === i) break
      ;[items[i], items[best]] = [items[best] as Sleeper, items[i] as Sleeper]
      i = best
    }
    return top
  }
}

/** A virtual clock, its scheduler, and the driver that moves time. */
export interface VirtualTime {
  readonly clock: Clock.Clock
  readonly scheduler: Scheduler.Scheduler
  /** Runs `effect` on virtual time (its clock and scheduler; forked fibers inherit both). */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Moves time forward by `duration`, running everything that becomes due, in order. */
  readonly advance: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** The virtual time now, in ms. */
  readonly nowMs: () => number
  /** Sleepers waiting (cancelled ones excluded lazily). */
  readonly pendingSleeps: () => number
}

/** Waits until every runnable fiber has run (see the module comment). */
const settle: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Makes virtual time starting at `startMs`. */
export const makeVirtualTime = (startMs = 0): VirtualTime => {
  let now = startMs
  let seq = 0
  const heap = new SleeperHeap()

  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now * 1_000_000)),
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now * 1_000_000))),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const ms = Duration.toMillis(duration)
        if (!(ms > 0)) {
          resume(Effect.void)
          return
        }
        const sleeper: Sleeper = { atMs: now + ms, seq: seq++, wake: () => resume(Effect.void), cancelled: false }
        heap.push(sleeper)
        return Effect.sync(() => {
          sleeper.cancelled = true
        })
      })
  }

  // Microtasks only: the default scheduler falls back to setTimeout after 2,048 nested batches, which
  // would let `settle` fire while work is still queued.
  const scheduler = new Scheduler.MixedScheduler(Number.MAX_SAFE_INTEGER)

  const advance = (duration: Duration.DurationInput): Effect.Effect<void> =>
    Effect.gen(function* () {
      const target = now + Duration.toMillis(duration)
      for (;;) {
        yield* settle
        let next = heap.peek()
        while (next !== undefined && next.cancelled) {
          heap.pop()
          next = heap.peek()
        }
        if (next === undefined || next.atMs > target) break
        now = next.atMs
        // Wake every sleeper of this instant, in registration order, then let them all run.
        while (next !== undefined && (next.cancelled || next.atMs === now)) {
          heap.pop()
          if (!next.cancelled) next.wake()
          next = heap.peek()
        }
      }
      now = target
      yield* settle
    })

  return {
    clock,
    scheduler,
    run: (effect) => effect.pipe(Effect.withClock(clock), Effect.withScheduler(scheduler)),
    advance,
    nowMs: () => now,
    pendingSleeps: () => heap.size
  }
}
