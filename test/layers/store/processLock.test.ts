/**
 * One process per store: a second opener — another process or this one — is refused with the holder's
 * pid; a holder killed with SIGKILL (or whose pid now belongs to another process) does not block the
 * next start; closing the store releases its lock.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { LmdbStoreLayer } from "../../../src/layers/store/LmdbStoreLayer.js"
import { LOCK_FILE, processStartTime } from "../../../src/layers/store/processLock.js"
import { Store } from "../../../src/services/Store.js"

const root = mkdtempSync(join(tmpdir(), "soma-store-lock-"))
const children: Array<ChildProcess> = []
afterAll(() => {
  for (const child of children) child.kill("SIGKILL")
  rmSync(root, { recursive: true, force: true })
})
let counter = 0
const freshPath = () => join(root, `store-${counter++}`)
const holderScript = join(import.meta.dirname, "fixtures/lockHolder.ts")

/** Starts a process holding the store at `path`; resolves once it has opened it. */
const startHolder = (path: string): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", holderScript, path], { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] })
    children.push(child)
    let stderr = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      if (chunk.includes("ready")) resolve(child)
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("exit", (code) => reject(new Error(`holder exited (${code}) before ready: ${stderr}`)))
  })

const killAndWait = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** A pid that ran and exited, so no process has it now (pids are not reused that quickly). */
const deadPid = (): number => {
  const done = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" })
  return Number(done.stdout)
}

const openAndWrite = (path: string) =>
  Effect.gen(function* () {
    const store = yield* Store
    yield* store.writeExecution({ watermark: 0, puts: [["k", Uint8Array.of(1)]], deletes: [] })
    return yield* store.executorWatermark
  }).pipe(Effect.provide(LmdbStoreLayer(path)))

describe("LMDB store lock", () => {
  it.live("a second process cannot open a store in use; the error names the holder's pid; after SIGKILL the next start takes over", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const holder = yield* Effect.promise(() => startHolder(path))
      const error = yield* Effect.flip(Layer.build(LmdbStoreLayer(path)).pipe(Effect.scoped))
      expect(error._tag).toBe("StoreError")
      expect(error.message).toContain(`in use by process ${holder.pid}`)

      yield* Effect.promise(() => killAndWait(holder))
      // The dead holder's lock file is still there; it must not block this start.
      expect(readFileSync(join(path, LOCK_FILE), "utf8").split("\n")[0]).toBe(String(holder.pid))
      expect(yield* openAndWrite(path)).toBe(0)
    }))

  it.live("a stale lock of a dead pid is taken over, and released on close", () =>
    Effect.gen(function* () {
      const path = freshPath()
      mkdirSync(path, { recursive: true })
      writeFileSync(join(path, LOCK_FILE), `${deadPid()}\n\n`)
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(LmdbStoreLayer(path))
          expect(readFileSync(join(path, LOCK_FILE), "utf8").split("\n")[0]).toBe(String(process.pid))
        })
      )
      expect(existsSync(join(path, LOCK_FILE))).toBe(false)
    }))

  it.live.skipIf(processStartTime(process.pid) === undefined)("a lock whose pid now belongs to another process (pid reuse) is stale", () =>
    Effect.gen(function* () {
      const path = freshPath()
      mkdirSync(path, { recursive: true })
      // Our own pid, but not our start time: a previous incarnation that had the same pid (containers).
      writeFileSync(join(path, LOCK_FILE), `${process.pid}\n1\n`)
      expect(yield* openAndWrite(path)).toBe(0)
    }))

  it.live("an empty lock file is a starter between create and write while fresh, and stale once old", () =>
    Effect.gen(function* () {
      const path = freshPath()
      mkdirSync(path, { recursive: true })
      const file = join(path, LOCK_FILE)
      writeFileSync(file, "")
      const error = yield* Effect.flip(Layer.build(LmdbStoreLayer(path)).pipe(Effect.scoped))
      expect(error.message).toContain("being locked by another process")
      const old = new Date(Date.now() - 60_000)
      utimesSync(file, old, old)
      expect(yield* openAndWrite(path)).toBe(0)
    }))

  it.live("a second open in the same process is refused until the first closes", () =>
    Effect.gen(function* () {
      const path = freshPath()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(LmdbStoreLayer(path))
          const error = yield* Effect.flip(Layer.build(LmdbStoreLayer(path)).pipe(Effect.scoped))
          expect(error.message).toContain(`in use by process ${process.pid} (this process)`)
        })
      )
      expect(yield* openAndWrite(path)).toBe(0)
    }))
})
