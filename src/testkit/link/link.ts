/**
 * The link emulator as tests and benchmarks use it (a stand-in for `tc netem`, which these machines
 * lack): `startLink` runs a TCP relay in its own OS process (linkProcess.ts) between peers and a
 * target, adding one-way delay and a bandwidth cap, and can stall or cut connections on command until
 * healed. Peers dial `link.address` instead of the target. The relay runs in another process so its
 * timers keep their precision however busy the process under test is, and so a real gRPC + TLS stack
 * sees a real TCP peer. Commands go over the IPC channel; the process exits when its parent does.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { Effect, Either, type Scope } from "effect"
import { relayProgram } from "./bundle.js"
import { conditionsProblem, type LinkConditions } from "./conditions.js"
import { decodeOrProblem, LinkProcessMessage, type LinkCommand, type LinkProcessOptions } from "./protocol.js"
import type { LinkStats } from "./relay.js"

export type { LinkConditions } from "./conditions.js"
export type { LinkMode, LinkStats } from "./relay.js"

/** How a link is started. */
export interface LinkOptions extends Partial<LinkConditions> {
  /** Where connections are forwarded, "host:port". */
  readonly target: string
  /** Port to listen on (127.0.0.1); 0 or undefined: any free port. */
  readonly listenPort?: number
  /** Names the link in its process's log lines and in errors (default: the target). */
  readonly label?: string
  /** Append the link process's stderr to this file instead of sharing the parent's stderr. */
  readonly logFile?: string
}

/** A running link; every method resolves once the relay process has applied it. */
export interface Link {
  readonly port: number
  /** "127.0.0.1:<port>": the address peers dial instead of the target. */
  readonly address: string
  /** Changes delay/bandwidth for bytes that arrive from now on (open connections included). */
  readonly set: (conditions: Partial<LinkConditions>) => Promise<void>
  /** Partition: destroys every open connection (both ends see a reset/close) and refuses new ones (accept then destroy at once) until heal. */
  readonly cut: () => Promise<void>
  /** Keeps connections open but forwards nothing (bytes are held, not dropped) until heal. */
  readonly stall: () => Promise<void>
  /** Ends a cut or a stall: new connections are forwarded again; held bytes flow. */
  readonly heal: () => Promise<void>
  readonly stats: () => Promise<LinkStats>
  /** Stops the relay process (kills it if it does not exit within 2 s). */
  readonly close: () => Promise<void>
}

/**
 * How long the process may take to report ready. The relay starts from a prebuilt bundle (`bundle.ts`)
 * in ≈ 50 ms; a busy 2-core machine can make that seconds.
 */
const START_TIMEOUT_MS = 30_000

/** How long `close` waits for the process to exit before killing it (the API promises 2 s). */
const CLOSE_GRACE_MS = 2_000


/** Splits "host:port" (or "[v6]:port"); throws on anything else. */
export const parseTarget = (target: string): { readonly host: string; readonly port: number } => {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(target)
  const port = Number(match?.[3])
  const host = match?.[1] ?? match?.[2]
  if (host === undefined || !(port >= 1 && port <= 65_535)) throw new Error(`link target "${target}" is not host:port`)
  return { host, port }
}

type CommandWithoutId = LinkCommand extends infer C ? (C extends LinkCommand ? Omit<C, "id"> : never) : never

interface Pending {
  readonly resolve: (stats: LinkStats) => void
  readonly reject: (error: Error) => void
}

/** Starts a link's relay process; resolves once it listens. */
export const startLink = async (options: LinkOptions): Promise<Link> => {
  const { host, port: targetPort } = parseTarget(options.target)
  const label = options.label ?? options.target
  const conditions: LinkConditions = {
    oneWayDelayMs: options.oneWayDelayMs ?? 0,
    ...(options.bandwidthBitsPerSec !== undefined ? { bandwidthBitsPerSec: options.bandwidthBitsPerSec } : {})
  }
  const problem = conditionsProblem(conditions)
  if (problem !== undefined) throw new Error(`link ${label}: ${problem}`)
  const processOptions: LinkProcessOptions = { label, targetHost: host, targetPort, listenPort: options.listenPort ?? 0, conditions }

  const program = await relayProgram()
  const logFd = options.logFile !== undefined ? openSync(options.logFile, "a") : undefined
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [program, JSON.stringify(processOptions)], {
      stdio: ["ignore", "ignore", logFd ?? "inherit", "ipc"]
    })
  } finally {
    if (logFd !== undefined) closeSync(logFd)
  }

  const pending = new Map<number, Pending>()
  let nextId = 1
  let exitCode: number | null | undefined = undefined
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal !== null ? -1 : null)
      const error = new Error(`link ${label}: the relay process exited (${signal ?? `code ${code}`})`)
      for (const request of pending.values()) request.reject(error)
      pending.clear()
      resolve()
    })
  )
  const alive = () => exitCode === undefined
  // The parent's event loop waits for the link only while it awaits an answer: a program that forgets
  // `close` still exits, and the process then exits with it (its channel closes).
  const holdParentOpen = (hold: boolean) => {
    if (hold) {
      child.ref()
      child.channel?.ref()
    } else {
      child.unref()
      child.channel?.unref()
    }
  }

  let onReady: ((port: number) => void) | undefined
  let onStartFailed: ((message: string) => void) | undefined
  child.on("message", (raw: unknown) => {
    const decoded = decodeOrProblem(LinkProcessMessage, raw)
    if (Either.isLeft(decoded)) return
    const message = decoded.right
    switch (message.type) {
      case "ready":
        onReady?.(message.port)
        return
      case "startFailed":
        onStartFailed?.(message.message)
        return
      case "done":
      case "failed": {
        const request = pending.get(message.id)
        if (request === undefined) return
        pending.delete(message.id)
        if (pending.size === 0) holdParentOpen(false)
        if (message.type === "done") request.resolve(message.stats)
        else request.reject(new Error(`link ${label}: ${message.message}`))
        return
      }
    }
  })

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`link ${label}: the relay process did not start within ${START_TIMEOUT_MS} ms`))
    }, START_TIMEOUT_MS)
    const settle = () => clearTimeout(timer)
    onReady = (listening) => {
      settle()
      resolve(listening)
    }
    onStartFailed = (message) => {
      settle()
      reject(new Error(`link ${label}: ${message}`))
    }
    child.once("error", (error) => {
      settle()
      reject(new Error(`link ${label}: could not start the relay process: ${error.message}`))
    })
    void exited.then(() => {
      settle()
      reject(new Error(`link ${label}: the relay process exited before it was ready (code ${exitCode})`))
    })
  })
  holdParentOpen(false)

  const request = (command: CommandWithoutId): Promise<LinkStats> =>
    new Promise((resolve, reject) => {
      if (!alive() || !child.connected) return reject(new Error(`link ${label}: the relay process is not running`))
      const id = nextId++
      pending.set(id, { resolve, reject })
      holdParentOpen(true)
      child.send({ ...command, id } satisfies LinkCommand, (error) => {
        if (error === null || !pending.has(id)) return
        pending.delete(id)
        if (pending.size === 0) holdParentOpen(false)
        reject(error)
      })
    })
  const command = (name: "cut" | "stall" | "heal") => async () => {
    await request({ command: name })
  }

  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      if (!alive()) return
      holdParentOpen(true)
      if (child.connected) child.send({ command: "close", id: nextId++ } satisfies LinkCommand, () => undefined)
      const timer = setTimeout(() => child.kill("SIGKILL"), CLOSE_GRACE_MS)
      await exited
      clearTimeout(timer)
    })()
    return closing
  }

  return {
    port,
    address: `127.0.0.1:${port}`,
    set: async (change) => {
      const invalid = conditionsProblem(change)
      if (invalid !== undefined) throw new Error(`link ${label}: ${invalid}`)
      await request({ command: "set", change })
    },
    cut: command("cut"),
    stall: command("stall"),
    heal: command("heal"),
    stats: () => request({ command: "stats" }),
    close
  }
}

/** A link for the life of the scope: started on acquire, closed on release. */
export const linkResource = (options: LinkOptions): Effect.Effect<Link, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startLink(options)),
    (link) => Effect.promise(() => link.close())
  )
