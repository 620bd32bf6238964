/**
 * One devnet node as an OS process the chaos runner can kill and start again on the same store:
 * `node --import tsx cli.ts devnet-node --config <file> [--producer <json>]`. It follows the node's JSON
 * status lines (the latest, the most banned peers seen, the bans and penalties reported against each
 * peer in every incarnation), keeps the tail of its log in memory for failure reports (and all of it in
 * a file), and notices an exit nobody asked for. Every process started here is SIGKILLed when the
 * parent process exits, and ends itself if the parent dies without exiting (exitWithParent.mjs), so no
 * node outlives the run.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from "node:fs"
import { fileURLToPath } from "node:url"
import type { ProducerConfig } from "../../programs/devnet/producer.js"

/** How many log lines each node keeps in memory. */
const LOG_TAIL_LINES = 200

const cliPath = fileURLToPath(new URL("../../programs/cli.ts", import.meta.url))
const exitWithParent = new URL("./exitWithParent.mjs", import.meta.url).href
const projectRoot = fileURLToPath(new URL("../../..", import.meta.url))

/** Every node process alive in this parent; killed on exit as a last resort. */
const alive = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of alive) child.kill("SIGKILL")
  })
}

/**
 * The fields of a node's status line (runNode.ts `NodeStatus`) that the runner reads. `penalties` is
 * optional so that statuses of a node without it still parse (then only `bannedPeers` is checked).
 */
export interface ReportedStatus {
  readonly highestSyncedCommit: number
  readonly highestCertifiedCommit?: number
  readonly targetCommit: number
  readonly highestExecuted: number
  readonly stateDigest: string
  readonly connectedPeers: number
  readonly knownPeers: number
  readonly bannedPeers: number
  readonly epoch: number
  readonly penalties?: ReadonlyArray<{ readonly peerId: string; readonly bans: number; readonly penalties: number }>
}

/** Bans and penalties a node reported against one peer. */
export interface Offences {
  readonly bans: number
  readonly penalties: number
}

/** What the process should be started with. */
export interface NodeProcessOptions {
  readonly name: string
  readonly role: "Validator" | "FullNode"
  readonly peerId: string
  readonly address: string
  readonly configFile: string
  readonly logFile: string
  readonly producer?: ProducerConfig
  /** When something worth a timeline line happens to the process (ready, an unexpected exit). */
  readonly onEvent: (text: string) => void
}

/** A node's process across its incarnations. */
export class NodeProcess {
  private child: ChildProcess | undefined = undefined
  private exited: Promise<void> = Promise.resolve()
  private expectingExit = false
  private readonly log: WriteStream
  private readonly tail: Array<string> = []
  private readonly offencesNow = new Map<string, Offences>()
  private readonly offencesBefore: Array<ReadonlyMap<string, Offences>> = []

  /** Starts so far (1 after the first start). */
  incarnations = 0
  /** The current incarnation printed `ready`. */
  ready = false
  /** The latest status of the current incarnation. */
  status: ReportedStatus | undefined = undefined
  /** Status lines received, all incarnations. */
  statusCount = 0
  /** Whether any status carried `penalties` (older nodes report only `bannedPeers`). */
  reportsPenalties = false
  /** The most `bannedPeers` any status reported. */
  mostBannedPeers = 0
  /** Exits that nobody asked for (a crash), with their code or signal. */
  readonly unexpectedExits: Array<string> = []

  constructor(readonly options: NodeProcessOptions) {
    this.log = createWriteStream(options.logFile, { flags: "a" })
  }

  get name(): string {
    return this.options.name
  }

  get role(): "Validator" | "FullNode" {
    return this.options.role
  }

  /** Whether a process is running now (started and not yet exited). */
  get running(): boolean {
    return this.child !== undefined
  }

  /** Starts a new incarnation (the previous one must have exited). */
  start(): void {
    if (this.child !== undefined) throw new Error(`${this.name} is already running`)
    installExitHook()
    this.incarnations++
    this.ready = false
    this.status = undefined
    if (this.offencesNow.size > 0) this.offencesBefore.push(new Map(this.offencesNow))
    this.offencesNow.clear()
    this.expectingExit = false
    const args = ["--import", "tsx", "--import", exitWithParent, cliPath, "devnet-node", "--config", this.options.configFile]
    if (this.options.producer !== undefined) args.push("--producer", JSON.stringify(this.options.producer))
    const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] })
    this.child = child
    alive.add(child)
    this.remember(`--- ${this.name}: incarnation ${this.incarnations} (pid ${child.pid}) ---`)
    child.stderr?.on("data", this.lines((line) => this.remember(line)))
    child.stdout?.on("data", this.lines((line) => this.onStdout(line)))
    this.exited = new Promise((resolve) => {
      child.once("error", (error) => {
        if (child.pid !== undefined) return // a failed kill; the process runs on and its exit follows
        // Spawning failed, and no exit event follows: an exit nobody asked for.
        alive.delete(child)
        if (this.child === child) this.child = undefined
        this.unexpectedExits.push(`spawn failed: ${error.message}`)
        this.options.onEvent(`${this.name} could not be started: ${error.message}`)
        resolve()
      })
      child.once("exit", (code, signal) => {
        alive.delete(child)
        if (this.child === child) this.child = undefined
        this.ready = false
        const how = signal !== null ? signal : `code ${code}`
        this.remember(`--- ${this.name}: incarnation ${this.incarnations} exited (${how}) ---`)
        if (!this.expectingExit) {
          this.unexpectedExits.push(how)
          this.options.onEvent(`${this.name} exited unexpectedly (${how})`)
        }
        resolve()
      })
    })
  }

  /** Sends `signal` and resolves once the process has exited (at once when none runs). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.expectingExit = true
    child.kill(signal)
    await this.exited
  }

  /** Kills the process if it runs and closes the log file. */
  async dispose(): Promise<void> {
    await this.kill("SIGKILL")
    await new Promise<void>((resolve) => this.log.end(resolve))
  }

  /** Bans and penalties reported against each peer, summed over incarnations (counts restart with the process). */
  offences(): ReadonlyMap<string, Offences> {
    const total = new Map<string, Offences>()
    for (const counts of [...this.offencesBefore, this.offencesNow]) {
      for (const [peerId, c] of counts) {
        const seen = total.get(peerId) ?? { bans: 0, penalties: 0 }
        total.set(peerId, { bans: seen.bans + c.bans, penalties: seen.penalties + c.penalties })
      }
    }
    return total
  }

  /**
   * What the process is doing, from Linux's /proc (undefined elsewhere or when not running): CPU time
   * used so far and each thread's name, state and kernel wait channel — enough to tell a busy loop
   * (CPU time grows) from a deadlock (every thread sleeping) when a node stalls.
   */
  processSnapshot(): string | undefined {
    const pid = this.child?.pid
    if (pid === undefined) return undefined
    try {
      // Fields after the command name (which may hold spaces): state is the 1st, utime the 12th, stime the 13th.
      const fields = (text: string) => text.slice(text.lastIndexOf(")") + 2).split(" ")
      const own = fields(readFileSync(`/proc/${pid}/stat`, "utf8"))
      const cpuSeconds = (Number(own[11]) + Number(own[12])) / 100
      const threads = readdirSync(`/proc/${pid}/task`).map((tid) => {
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()
        const state = fields(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"))[0]
        const wchan = readFileSync(`/proc/${pid}/task/${tid}/wchan`, "utf8").trim()
        return `${comm}:${state}${wchan !== "" && wchan !== "0" ? `(${wchan})` : ""}`
      })
      return `pid ${pid}, ${cpuSeconds.toFixed(1)} s CPU, threads ${threads.join(" ")}`
    } catch {
      return undefined
    }
  }

  /** The last `count` lines of its log (stderr and anything on stdout that is not a status). */
  logTail(count: number): ReadonlyArray<string> {
    return this.tail.slice(-count)
  }

  private onStdout(line: string): void {
    let event: ({ readonly event?: string } & Partial<ReportedStatus>) | undefined
    try {
      event = JSON.parse(line) as { readonly event?: string } & Partial<ReportedStatus>
    } catch {
      event = undefined
    }
    if (event?.event === "ready") {
      this.ready = true
      this.options.onEvent(`${this.name} ready (incarnation ${this.incarnations})`)
    } else if (event?.event === "status") {
      const status = event as ReportedStatus
      this.status = status
      this.statusCount++
      this.mostBannedPeers = Math.max(this.mostBannedPeers, status.bannedPeers)
      if (status.penalties !== undefined) this.reportsPenalties = true
      for (const p of status.penalties ?? []) {
        const seen = this.offencesNow.get(p.peerId) ?? { bans: 0, penalties: 0 }
        this.offencesNow.set(p.peerId, { bans: Math.max(seen.bans, p.bans), penalties: Math.max(seen.penalties, p.penalties) })
      }
    } else {
      this.remember(line)
    }
  }

  private remember(line: string): void {
    this.log.write(`${line}\n`)
    this.tail.push(line)
    if (this.tail.length > LOG_TAIL_LINES) this.tail.splice(0, this.tail.length - LOG_TAIL_LINES)
  }

  /** A data handler that calls `onLine` for each complete line. */
  private lines(onLine: (line: string) => void): (chunk: Buffer) => void {
    let buffered = ""
    return (chunk) => {
      buffered += chunk.toString()
      const lines = buffered.split("\n")
      buffered = lines.pop() ?? ""
      for (const line of lines) if (line.length > 0) onLine(line)
    }
  }
}
