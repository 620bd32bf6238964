/**
 * One devnet node as a scoped OS process: started with its stdout piped (JSON `ready` and `status`
 * events, which it records) and an IPC channel, and stopped when its scope closes — SIGTERM, then
 * SIGKILL after a grace period. The IPC channel is what lets a node notice that the devnet died
 * without closing the scope (SIGKILL), so no node outlives it.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { appendFileSync, closeSync, openSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import type { NodeStatus } from "../node/runNode.js"
import type { DevnetNode } from "./layout.js"

/** The nodes run from the project root, where `tsx` and the sources resolve. */
const projectRoot = join(import.meta.dirname, "../../..")
/**
 * How long a node gets between SIGTERM and SIGKILL. A node stops in well under a second (server
 * closed, fibers interrupted, store flushed); 6 s leaves room for a loaded machine and keeps the
 * devnet's whole stop — nodes, summary, temp dir — within 10 s of the signal.
 */
export const SHUTDOWN_GRACE_MS = 6_000
/** After SIGKILL (or for a node that already exited): how long to wait for its output to end. */
const CLOSE_WAIT_MS = 2_000

/** How a node process ended at shutdown. */
export type NodeStop = "SIGTERM" | "SIGKILL" | "exited"

/** One node process of the devnet and what it has reported. */
export interface NodeProcess {
  readonly node: DevnetNode
  readonly child: ChildProcess
  /** Its log file: the node's stderr, written by the node itself (so it outlives this process). */
  readonly log: string
  /** Resolves once the process has exited and its output has been read. */
  readonly closed: Promise<void>
  ready: boolean
  exited: boolean
  status: NodeStatus | undefined
  /** Bans and penalties it reported against each peer (the most seen: counts restart with the process). */
  readonly penalised: Map<string, { bans: number; penalties: number }>
  /** Reports with executed > synced: impossible for a correct node (it executes only what it stored). */
  inconsistentReports: number
  stop: NodeStop | undefined
  /** From SIGTERM to the end of its output. */
  stopMs: number | undefined
}

/** Records one event the node printed on its stdout (`ready`, `status`; others are ignored). */
const recordEvent = (p: NodeProcess, event: { event?: string } & Partial<NodeStatus>): void => {
  if (event.event === "ready") p.ready = true
  if (event.event === "status") {
    const status = event as NodeStatus
    p.status = status
    if (status.highestExecuted > status.highestSyncedCommit) p.inconsistentReports++
    for (const peer of status.penalties ?? []) {
      const seen = p.penalised.get(peer.peerId) ?? { bans: 0, penalties: 0 }
      p.penalised.set(peer.peerId, { bans: Math.max(seen.bans, peer.bans), penalties: Math.max(seen.penalties, peer.penalties) })
    }
  }
}

/** Starts one node process, reading its JSON status lines; its stderr and any other output go to its log. */
const spawnNode = (node: DevnetNode, args: ReadonlyArray<string>, dir: string): NodeProcess => {
  const log = join(dir, `${node.name}.log`)
  const logFd = openSync(log, "a")
  // The IPC channel is how the node notices that this process is gone (see `devnet-node` in cli.ts);
  // its stderr goes straight to its log file, so it can log its own shutdown after this process died.
  const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ["ignore", "pipe", logFd, "ipc"] })
  closeSync(logFd)
  const toLog = (line: string) => {
    try {
      appendFileSync(log, line)
    } catch {
      // a log that cannot be written must not take the devnet down
    }
  }
  let onClosed: () => void = () => undefined
  const closed = new Promise<void>((resolve) => (onClosed = resolve))
  const entry: NodeProcess = {
    node,
    child,
    log,
    closed,
    ready: false,
    exited: false,
    status: undefined,
    penalised: new Map(),
    inconsistentReports: 0,
    stop: undefined,
    stopMs: undefined
  }
  let buffered = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split("\n")
    buffered = lines.pop() ?? ""
    for (const line of lines) {
      try {
        recordEvent(entry, JSON.parse(line) as { event?: string } & Partial<NodeStatus>)
      } catch {
        toLog(`${line}\n`)
      }
    }
  })
  child.on("exit", () => {
    entry.exited = true
  })
  child.on("error", (error) => {
    entry.exited = true
    toLog(`devnet: cannot run ${node.name}: ${error.message}\n`)
    onClosed()
  })
  child.on("close", () => onClosed())
  return entry
}

/**
 * Whether the process closed within `ms`. One callback rather than a race of two fibers: this runs in
 * finalizers, which are uninterruptible, and so would be a race's losing `sleep` — it would always
 * wait the whole `ms`.
 */
const closedWithin = (p: NodeProcess, ms: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let settled = false
    const settle = (closed: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(Effect.succeed(closed))
    }
    const timer = setTimeout(() => settle(false), ms)
    void p.closed.then(() => settle(true))
  })

/**
 * A node that did not stop on SIGTERM: prints, on stderr, the tail of its log (which names a status
 * step or store write still pending, see warnIfSlow), so that a rare hang seen once in a CI log says
 * where the node stood. A silent log means its event loop itself was blocked.
 */
const diagnoseStuck = (p: NodeProcess): Effect.Effect<void> =>
  Effect.gen(function* () {
    const before = threadStates(p.child.pid)
    yield* Effect.sleep(THREAD_SAMPLE_MS)
    const after = threadStates(p.child.pid)
    const threads = after.map((t) => {
      const cpu = t.cpuTicks - (before.find((b) => b.tid === t.tid)?.cpuTicks ?? t.cpuTicks)
      return `  ${t.tid === p.child.pid ? "main " : ""}${t.name} ${t.state} wchan=${t.wchan} cpu+${cpu}`
    })
    process.stderr.write(
      `devnet: ${p.node.name} did not stop within ${SHUTDOWN_GRACE_MS / 1000} s of SIGTERM; its threads over ${THREAD_SAMPLE_MS} ms (state, kernel wait, CPU ticks):\n${threads.join("\n")}\nthe last lines of its log:\n${readTail(p.log, 30)}\n`
    )
  })

/** How long a stuck node's threads are watched (is its main thread busy, or waiting in the kernel?). */
const THREAD_SAMPLE_MS = 500

interface ThreadState {
  readonly tid: number
  readonly name: string
  readonly state: string
  readonly wchan: string
  readonly cpuTicks: number
}

/** Each thread of `pid` from /proc (Linux; nothing elsewhere): name, state, kernel wait channel, CPU ticks. */
const threadStates = (pid: number | undefined): Array<ThreadState> => {
  if (pid === undefined) return []
  try {
    return readdirSync(`/proc/${pid}/task`).map((task) => {
      const base = `/proc/${pid}/task/${task}`
      const stat = readFileSync(`${base}/stat`, "utf8")
      // "tid (name) state ... utime stime ...": fields after the name's closing parenthesis.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const read = (file: string) => {
        try {
          return readFileSync(`${base}/${file}`, "utf8").trim()
        } catch {
          return "?"
        }
      }
      return { tid: Number(task), name: read("comm"), state: fields[0] ?? "?", wchan: read("wchan"), cpuTicks: Number(fields[11]) + Number(fields[12]) }
    })
  } catch {
    return []
  }
}

const readTail = (file: string, lines: number): string => {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines - 1).join("\n")
  } catch {
    return "(no log)"
  }
}

/** Stops a node: SIGTERM, then SIGKILL if it has not exited after the grace period. */
const stopNode = (p: NodeProcess): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (p.exited) {
      p.stop = "exited"
      yield* closedWithin(p, CLOSE_WAIT_MS)
    } else {
      const sent = Date.now()
      p.child.kill("SIGTERM")
      const clean = yield* closedWithin(p, SHUTDOWN_GRACE_MS)
      p.stopMs = Date.now() - sent
      if (clean) {
        p.stop = "SIGTERM"
      } else {
        p.stop = "SIGKILL"
        yield* diagnoseStuck(p)
        p.child.kill("SIGKILL")
        yield* closedWithin(p, CLOSE_WAIT_MS)
      }
    }
  })

/** A node process in the current scope: closing the scope stops it. */
export const nodeProcess = (node: DevnetNode, args: ReadonlyArray<string>, dir: string): Effect.Effect<NodeProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => spawnNode(node, args, dir)),
    (p) => stopNode(p)
  )
