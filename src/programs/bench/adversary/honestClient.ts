/**
 * The honest client of the adversary bench: a peer with its own identity (gRPC + mutual TLS through
 * the project's `GrpcNetworkLayer`, as a syncing node calls) that polls the victim's
 * GetCommitAvailability every `POLL_INTERVAL_MS` and, alongside, fetches commits (FetchCommits, a
 * random range of ≤ 100) and blocks (FetchBlocks, the ≈ 100 blocks of a few random commits) in a loop,
 * recording the start, latency and success of every call. A call succeeds when it is answered with
 * what the victim holds (a non-empty range; every block asked for). A lost connection is dialled again
 * before the next call; the failed call and the dial's time count against the victim.
 */
import { performance } from "node:perf_hooks"
import { Cause, Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"
import { makeGrpcNetwork } from "../../../layers/network/grpc/GrpcNetworkLayer.js"
import { P2pMethods } from "../../../proto/P2pMethods.js"
import type { NetworkService } from "../../../services/Network.js"
import { freshIdentity } from "../../../testkit/adversary/identity.js"

/** The honest client's calls. */
export type HonestMethod = "GetCommitAvailability" | "FetchCommits" | "FetchBlocks"

/** One finished call. */
export interface HonestCall {
  readonly method: HonestMethod
  /** When it started (epoch ms, the clock the victim's samples use). */
  readonly startMs: number
  readonly ms: number
  readonly ok: boolean
  /** Why it failed (error tag and reason), when it did. */
  readonly failure?: string
}

/** What the honest client asks for: the victim's commits, and the refs (BCS) of each commit's blocks. */
export interface HonestWorkload {
  readonly commits: number
  /** `blockRefs[i]`: the refs of commit i + 1's blocks. */
  readonly blockRefs: ReadonlyArray<ReadonlyArray<Uint8Array>>
}

/** The honest client's figures over a window. */
export interface HonestWindow {
  readonly calls: number
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  /** Share of calls that succeeded (null: no call). */
  readonly success: number | null
  /** Failures by reason. */
  readonly failures: Readonly<Record<string, number>>
}

/** GetCommitAvailability every 100 ms, as the brief of the bench says (a syncing node polls every 5 s). */
const POLL_INTERVAL_MS = 100
/** Pause between two rounds of FetchCommits + FetchBlocks. */
const FETCH_PAUSE_MS = 100
/** Deadlines: a syncing node's (FetchCommits 10 s; FetchBlocks streams 30 s, shortened here to fail fast). */
const UNARY_TIMEOUT_MS = 5_000
const FETCH_COMMITS_TIMEOUT_MS = 10_000
const FETCH_BLOCKS_TIMEOUT_MS = 10_000
const MAX_COMMITS_PER_FETCH = 100
const BLOCKS_PER_FETCH = 100

/** The quantile `q` of sorted values. */
const quantile = (sorted: ReadonlyArray<number>, q: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

const describeFailure = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const e = error as { readonly _tag: string; readonly reason?: string; readonly code?: string }
    return [e._tag, e.reason ?? e.code].filter((part) => part !== undefined).join(":")
  }
  return String(error)
}

/** A running honest client. */
export class HonestClient {
  private readonly finished: Array<HonestCall> = []
  private readonly pending = new Map<number, { readonly method: HonestMethod; readonly startMs: number; readonly began: number }>()
  private sequence = 0
  private fiber: Fiber.RuntimeFiber<never, unknown> | undefined

  constructor(
    private readonly victim: { readonly address: string; readonly peerId: PeerId },
    private readonly workload: HonestWorkload
  ) {}

  /** Starts the client; resolves once it has connected to the victim. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const program = Effect.gen(this, function* () {
        const identity = freshIdentity()
        const network = yield* makeGrpcNetwork({ keypair: identity.keypair, listenAddress: "127.0.0.1:0" })
        yield* network.dial(this.victim.peerId, this.victim.address)
        resolve()
        yield* Effect.forkScoped(this.poll(network))
        yield* Effect.forkScoped(this.fetch(network))
        return yield* Effect.never
      }).pipe(Effect.scoped)
      this.fiber = Effect.runFork(program)
      this.fiber.addObserver((exit) => {
        if (Exit.isFailure(exit)) reject(new Error(`honest client: ${describeFailure(exit.cause)}`))
      })
    })
  }

  /** Stops the client and closes its connection. */
  async stop(): Promise<void> {
    if (this.fiber !== undefined) await Effect.runPromise(Fiber.interrupt(this.fiber))
  }

  /**
   * Figures of the calls started in [fromMs, toMs); a call still in flight counts as failed so far
   * (unless `finishedOnly`, for a window that has only just ended).
   */
  window(fromMs: number, toMs: number, finishedOnly = false): HonestWindow {
    const now = performance.now()
    const inWindow = (startMs: number) => startMs >= fromMs && startMs < toMs
    const calls: Array<HonestCall> = this.finished.filter((c) => inWindow(c.startMs))
    for (const p of finishedOnly ? [] : this.pending.values()) {
      if (inWindow(p.startMs)) calls.push({ method: p.method, startMs: p.startMs, ms: now - p.began, ok: false, failure: "StillInFlight" })
    }
    const failures: Record<string, number> = {}
    for (const c of calls) if (!c.ok) failures[c.failure ?? "?"] = (failures[c.failure ?? "?"] ?? 0) + 1
    const sorted = calls.map((c) => c.ms).sort((a, b) => a - b)
    return {
      calls: calls.length,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      success: calls.length === 0 ? null : calls.filter((c) => c.ok).length / calls.length,
      failures
    }
  }

  /** Runs `call` (dialling first if the connection was lost) and records it; `ok` judges the answer. */
  private timed<A, E>(network: NetworkService, method: HonestMethod, call: Effect.Effect<A, E>, ok: (answer: A) => boolean) {
    return Effect.suspend(() => {
      const id = this.sequence++
      const startMs = Date.now()
      const began = performance.now()
      this.pending.set(id, { method, startMs, began })
      return network.dial(this.victim.peerId, this.victim.address).pipe(
        Effect.zipRight(call),
        Effect.exit,
        Effect.map((exit) => {
          this.pending.delete(id)
          const ms = performance.now() - began
          if (Exit.isSuccess(exit)) {
            const good = ok(exit.value)
            this.finished.push({ method, startMs, ms, ok: good, ...(good ? {} : { failure: `${method}:IncompleteAnswer` }) })
          } else {
            const failure = Option.match(Cause.failureOption(exit.cause), {
              onSome: describeFailure,
              onNone: () => (Cause.isInterruptedOnly(exit.cause) ? "Interrupted" : "Defect")
            })
            this.finished.push({ method, startMs, ms, ok: false, failure })
          }
        })
      )
    })
  }

  private poll(network: NetworkService) {
    const once = this.timed(network, "GetCommitAvailability", network.call(this.victim.peerId, P2pMethods.GetCommitAvailability, {}, { timeout: UNARY_TIMEOUT_MS }), (a) =>
      a.highestSyncedCommit >= this.workload.commits
    )
    return once.pipe(Effect.repeat(Schedule.fixed(POLL_INTERVAL_MS)))
  }

  private fetch(network: NetworkService) {
    const { commits, blockRefs } = this.workload
    const random = (n: number) => 1 + Math.floor(Math.random() * n)
    const round = Effect.suspend(() => {
      const start = random(commits)
      const end = Math.min(commits, start + MAX_COMMITS_PER_FETCH - 1)
      const refs: Array<Uint8Array> = []
      for (let i = random(commits) - 1; i < blockRefs.length && refs.length < BLOCKS_PER_FETCH; i++) refs.push(...blockRefs[i]!)
      const fetchCommits = this.timed(
        network,
        "FetchCommits",
        network.call(this.victim.peerId, P2pMethods.FetchCommits, { start, end }, { timeout: FETCH_COMMITS_TIMEOUT_MS }),
        (a) => a.commits.length > 0
      )
      const fetchBlocks = this.timed(
        network,
        "FetchBlocks",
        network
          .callStream(this.victim.peerId, P2pMethods.FetchBlocks, { blockRefs: refs }, { timeout: FETCH_BLOCKS_TIMEOUT_MS })
          .pipe(Stream.runFold(0, (n, message) => n + message.blocks.length)),
        (received) => received === refs.length
      )
      return fetchCommits.pipe(Effect.zipRight(fetchBlocks), Effect.zipRight(Effect.sleep(FETCH_PAUSE_MS)))
    })
    return Effect.forever(round)
  }
}
