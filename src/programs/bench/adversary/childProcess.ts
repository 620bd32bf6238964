/**
 * A child process of the adversary bench (the victim, an attacker) that speaks JSON lines on stdout:
 * TypeScript run through tsx, ended if the bench dies (`exitWithParent.mjs`), its stderr kept in a
 * log file and its tail in memory for failure reports.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { createWriteStream, type WriteStream } from "node:fs"
import { fileURLToPath } from "node:url"

const projectRoot = fileURLToPath(new URL("../../../..", import.meta.url))
const exitWithParent = new URL("../../../testkit/chaos/exitWithParent.mjs", import.meta.url).href
const STDERR_TAIL_LINES = 30

/** Every child alive in this process; killed on exit as a last resort. */
const alive = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of alive) child.kill("SIGKILL")
})

/** One JSON line printed by a child. */
export type ChildEvent = { readonly event?: string } & Readonly<Record<string, unknown>>

/** A running child process that prints JSON lines. */
export class JsonLineProcess {
  private readonly child: ChildProcess
  private readonly log: WriteStream
  private readonly tail: Array<string> = []
  private readonly waiters: Array<{ readonly event: string; readonly resolve: (e: ChildEvent) => void }> = []
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<string>
  running = true

  constructor(
    readonly label: string,
    script: string,
    args: ReadonlyArray<string>,
    logFile: string,
    private readonly onEvent: (event: ChildEvent) => void = () => {},
    nodeOptions: ReadonlyArray<string> = []
  ) {
    this.log = createWriteStream(logFile, { flags: "a" })
    this.child = spawn(process.execPath, [...nodeOptions, "--import", "tsx", "--import", exitWithParent, script, ...args], {
      cwd: projectRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    alive.add(this.child)
    this.child.stdout?.on("data", this.lines((line) => this.onStdout(line)))
    this.child.stderr?.on("data", this.lines((line) => this.remember(line)))
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        alive.delete(this.child)
        this.running = false
        resolve(signal ?? `code ${code}`)
      })
    })
  }

  /** Resolves with the first `event` line printed from now on; rejects after `timeoutMs` or if the process exits first. */
  waitFor(event: string, timeoutMs: number): Promise<ChildEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no "${event}" within ${timeoutMs} ms; stderr: ${this.stderrTail()}`)), timeoutMs)
      this.waiters.push({
        event,
        resolve: (e) => {
          clearTimeout(timer)
          resolve(e)
        }
      })
      void this.exited.then((how) => {
        clearTimeout(timer)
        reject(new Error(`${this.label} exited (${how}) before "${event}"; stderr: ${this.stderrTail()}`))
      })
    })
  }

  /** Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<string> {
    if (this.running) this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs)
    const how = await this.exited
    clearTimeout(timer)
    await new Promise<void>((resolve) => this.log.end(resolve))
    return how
  }

  /** The last lines of its stderr, joined. */
  stderrTail(lines = 10): string {
    return this.tail.slice(-lines).join(" | ")
  }

  private onStdout(line: string): void {
    let event: ChildEvent
    try {
      event = JSON.parse(line) as ChildEvent
    } catch {
      this.remember(`stdout: ${line}`)
      return
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!
      if (waiter.event === event.event) {
        this.waiters.splice(i, 1)
        waiter.resolve(event)
      }
    }
    this.onEvent(event)
  }

  private remember(line: string): void {
    this.log.write(`${line}\n`)
    this.tail.push(line)
    if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift()
  }

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
