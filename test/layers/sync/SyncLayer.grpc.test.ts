/**
 * End to end over real gRPC (TLS, both ends authenticated) with LMDB: a fresh node in its own process
 * syncs from three serving nodes, is killed with SIGKILL mid-sync, restarts from its watermark, and
 * ends with a store equal to the source's.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import { ChainGenerator, type ChainConfig } from "../../../src/testkit/chain.js"
import { makeLmdbStore } from "../../../src/layers/store/LmdbStoreLayer.js"
import { startServingNodes } from "../../../src/programs/syncNode.js"

const CHAIN_CONFIG: ChainConfig = { seed: 31, validators: 4, commitsPerEpoch: 150, transactionsPerBlock: 2 }
const HEIGHT = 450
const KILL_AT = 150
const child = join(import.meta.dirname, "../../fixtures/sync/syncChild.ts")

interface ChildRun {
  readonly lines: ReadonlyArray<string>
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** Runs the child node; kills it with SIGKILL once it reports `killAt` (if given). */
const runChild = (args: ReadonlyArray<string>, killAt?: number) =>
  Effect.async<ChildRun>((resume) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, ...args], { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] })
    const lines: Array<string> = []
    let buffered = ""
    let stderr = ""
    proc.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString()
      const parts = buffered.split("\n")
      buffered = parts.pop() ?? ""
      for (const line of parts) {
        lines.push(line)
        const synced = /^synced (\d+)$/.exec(line)
        if (killAt !== undefined && synced !== null && Number(synced[1]) >= killAt) proc.kill("SIGKILL")
      }
    })
    proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    proc.on("exit", (code, signal) => {
      if (code !== 0 && signal === null) lines.push(`stderr: ${stderr.slice(-2000)}`)
      resume(Effect.succeed({ lines, code, signal }))
    })
    return Effect.sync(() => proc.kill("SIGKILL"))
  })

it.scopedLive(
  "a fresh node syncs over gRPC + LMDB from 3 servers, survives kill -9 mid-sync, resumes from its watermark, and ends equal to the source",
  () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "soma-sync-e2e-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const generator = new ChainGenerator(CHAIN_CONFIG)
      const chain = generator.take(HEIGHT)
      const start = { commitRef: { index: 0, digest: ZERO_DIGEST }, committee: generator.committee(0) }

      const servers = yield* startServingNodes({ count: 3, label: "sync-server", dir, chain, start })
      const args = [join(dir, "fresh"), JSON.stringify(servers.map((s) => ({ peerId: s.peerId, address: s.address }))), JSON.stringify(CHAIN_CONFIG), String(HEIGHT)]

      const first = yield* runChild(args, KILL_AT)
      expect(first.signal).toBe("SIGKILL")
      const lastBeforeKill = Math.max(...first.lines.flatMap((l) => (/^synced (\d+)$/.exec(l) ? [Number(l.slice(7))] : [])))
      expect(lastBeforeKill).toBeGreaterThanOrEqual(KILL_AT)
      expect(lastBeforeKill).toBeLessThan(HEIGHT)

      const second = yield* runChild(args)
      expect(second.code, second.lines.join("\n")).toBe(0)
      const resumedAt = Number(/^resumed (\d+)/.exec(second.lines[0] ?? "")?.[1])
      // It resumed from its stored watermark (at least what it had reported), not from genesis ...
      expect(resumedAt).toBeGreaterThanOrEqual(lastBeforeKill)
      // ... and delivered exactly the rest, once each, in order.
      const delivered = second.lines.flatMap((l) => (/^synced (\d+)$/.exec(l) ? [Number(l.slice(7))] : []))
      expect(delivered).toEqual(Array.from({ length: HEIGHT - resumedAt }, (_, i) => resumedAt + 1 + i))

      // The fresh node's store equals the source's, commit by commit and block by block.
      const fresh = yield* makeLmdbStore(join(dir, "fresh"))
      const source = servers[0]!.node.store
      expect((yield* fresh.watermarks).highestSyncedCommit).toBe(HEIGHT)
      for (let index = 1; index <= HEIGHT; index++) {
        const [a, b] = [yield* fresh.commitSubDag(index), yield* source.commitSubDag(index)]
        expect(Option.isSome(a) && Option.isSome(b)).toBe(true)
        if (Option.isSome(a) && Option.isSome(b)) {
          expect(toHex(a.value.commit.bytes)).toBe(toHex(b.value.commit.bytes))
          expect(a.value.blocks.map((x) => toHex(x.bytes))).toEqual(b.value.blocks.map((x) => toHex(x.bytes)))
        }
      }
      for (const epoch of [0, 1, 2]) expect(yield* fresh.getCommittee(epoch)).toEqual(yield* source.getCommittee(epoch))
    }),
  180_000
)
