/**
 * One process per store. LMDB itself lets any number of processes open one environment, and two nodes
 * syncing and executing into the same directory would each believe they own its watermarks. Node has no
 * `flock`, so the store holds a lock file created with O_EXCL (`wx`): creating it is the atomic
 * "acquire". The file names its holder — pid and that process's start time — so that a second opener can
 * say who holds the store, and so that the lock of a holder that died without releasing it (SIGKILL,
 * power loss) is recognised as stale and taken over instead of blocking every later start.
 *
 * Stale means: the pid is not running (`kill(pid, 0)` → ESRCH), or it runs but started at another time
 * than the holder did (the pid was reused by an unrelated process — after a reboot, or in a container
 * where the restarted node gets the same pid as its killed predecessor). The start time is Linux's
 * `/proc/<pid>/stat` field 22; where /proc is absent only the pid is compared, and a reused pid makes
 * the lock look held (a refusal naming that pid, never two writers).
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs"
import { Effect, type Scope } from "effect"
import { StoreError } from "../../services/Store.js"

/** The lock file's name inside the store directory. */
export const LOCK_FILE = "soma-store.lock"

/** Who holds a lock: a process, identified across pid reuse by its start time when the OS tells it. */
export interface LockHolder {
  readonly pid: number
  /** Clock ticks since boot at which the process started (`/proc/<pid>/stat` field 22); undefined off Linux. */
  readonly startTime: string | undefined
}

/** The start time of process `pid`, when /proc has it (undefined: not Linux, or no such process). */
export const processStartTime = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Field 2 (the command name) is in parentheses and may hold spaces: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return fields[19] // field 22 of the whole line
  } catch {
    return undefined
  }
}

const encodeHolder = (holder: LockHolder): string => `${holder.pid}\n${holder.startTime ?? ""}\n`

/** Reads a lock file's holder; undefined when the file is gone or does not name a pid (torn write). */
const readHolder = (file: string): LockHolder | undefined => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch {
    return undefined
  }
  const [pidText = "", startText = ""] = text.split("\n")
  const pid = Number(pidText)
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined
  return { pid, startTime: startText === "" ? undefined : startText }
}

const sameHolder = (a: LockHolder | undefined, b: LockHolder): boolean => a !== undefined && a.pid === b.pid && a.startTime === b.startTime

/** Whether the process that wrote `holder` still runs. */
export const isAlive = (holder: LockHolder): boolean => {
  try {
    process.kill(holder.pid, 0)
  } catch (error) {
    // EPERM: it runs under another user — alive. ESRCH (or anything else): gone.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  if (holder.startTime === undefined) return true
  const now = processStartTime(holder.pid)
  // No /proc entry to compare with: trust kill(). Another start time: the pid was reused.
  return now === undefined || now === holder.startTime
}

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code

/** Creates the lock file naming `self`, or reports that it exists. */
const tryCreate = (file: string, self: LockHolder): boolean => {
  let fd: number
  try {
    fd = openSync(file, "wx", 0o644)
  } catch (error) {
    if (errno(error) === "EEXIST") return false
    throw error
  }
  try {
    writeSync(fd, encodeHolder(self))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return true
}

/**
 * Moves a stale lock aside. Two starters may both judge one lock stale; `rename` is atomic, so at most
 * one of them moves it — but the other could then move the *first one's fresh* lock. So the moved file
 * is checked: if it is not the stale holder's, it is put back (`link` never overwrites) and we lost.
 */
const removeStale = (file: string, stale: LockHolder | undefined, self: LockHolder): void => {
  const aside = `${file}.stale-${self.pid}`
  try {
    renameSync(file, aside)
  } catch (error) {
    if (errno(error) === "ENOENT") return // someone else removed it first; retry the create
    throw error
  }
  const moved = readHolder(aside)
  const movedTheStaleOne = stale === undefined ? moved === undefined : sameHolder(moved, stale)
  if (!movedTheStaleOne) {
    try {
      linkSync(aside, file)
    } catch {
      // A third starter created a lock meanwhile and holds the store; the process whose lock we moved
      // believes it does too. Three starters racing over one stale lock: not guarded against.
    }
  }
  unlinkSync(aside)
}

const lockedError = (path: string, file: string, holder: LockHolder | undefined): StoreError =>
  new StoreError({
    operation: "lock",
    detail:
      holder === undefined
        ? `${path} is being locked by another process right now (${file})`
        : `${path} is in use by process ${holder.pid}${holder.pid === process.pid ? " (this process)" : ""}: ` +
          `only one process may open a store; stop it first (lock file ${file})`
  })

/**
 * An empty lock file younger than this may be a starter between creating and writing it (microseconds
 * apart); older, its writer died there. Five seconds is far beyond that gap, and a start right after
 * such a crash is refused for at most that long.
 */
const UNWRITTEN_LOCK_GRACE_MS = 5_000

const olderThan = (file: string, ms: number): boolean => {
  try {
    return Date.now() - statSync(file).mtimeMs >= ms
  } catch {
    return true // gone meanwhile: nothing to wait for
  }
}

/** Rounds of "exists → stale → removed → create" before giving up (each loses only to a live starter). */
const ACQUIRE_ATTEMPTS = 3

/** Takes the lock file `file` for this process, or fails naming the live holder. */
const acquire = (path: string, file: string): Effect.Effect<LockHolder, StoreError> =>
  Effect.try({
    try: () => {
      const self: LockHolder = { pid: process.pid, startTime: processStartTime(process.pid) }
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        if (tryCreate(file, self)) return self
        const holder = readHolder(file)
        // A lock in this very process (a second open of the same path) is held, whatever /proc says.
        if (holder !== undefined && (sameHolder(holder, self) || isAlive(holder))) throw lockedError(path, file, holder)
        // Unreadable: a starter between its create and its write — or one that died right there,
        // which only an old file shows. Dead holder or such a file: stale; move it aside and retry.
        if (holder === undefined && !olderThan(file, UNWRITTEN_LOCK_GRACE_MS)) throw lockedError(path, file, undefined)
        removeStale(file, holder, self)
      }
      throw lockedError(path, file, readHolder(file))
    },
    catch: (cause) =>
      cause instanceof StoreError ? cause : new StoreError({ operation: "lock", detail: `${file}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/** Removes the lock file if it is still ours (never another process's). */
const release = (file: string, self: LockHolder): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!sameHolder(readHolder(file), self)) return
    try {
      unlinkSync(file)
    } catch {
      // Gone already: nothing to release.
    }
  })

/** Holds the exclusive lock of the store directory `path` for the life of the scope. */
export const lockStore = (path: string, file: string): Effect.Effect<LockHolder, StoreError, Scope.Scope> =>
  Effect.acquireRelease(acquire(path, file), (self) => release(file, self))
