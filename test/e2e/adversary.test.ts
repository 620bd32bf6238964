/**
 * Smoke test of the adversary bench (`npm run bench -- adversary --json`): a tiny run — a short chain,
 * two attacks of 2 s at a tenth of their strength — through the CLI, checking that it prints one
 * well-formed JSON line and that the victim was still alive and answering the honest client after the
 * reference window and after every attack. Latencies are not asserted: machines are noisy.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const ATTACKS = ["compressedOversized", "garbageFlood"] as const

/** Runs the bench CLI; resolves with its exit code, stdout and stderr. */
const runBench = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/programs/bench/main.ts", ...args], { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

const isNumberOrNull = (value: unknown) => value === null || (typeof value === "number" && Number.isFinite(value))

describe("adversary bench", () => {
  it("prints one well-formed line, and the victim answers after every attack", async () => {
    const { code, stdout, stderr } = await runBench([
      "adversary",
      "--json",
      "--attack",
      ATTACKS.join(","),
      "--seconds",
      "2",
      "--settle",
      "2",
      "--commits",
      "20",
      "--scale",
      "0.1"
    ])
    expect(code, stderr).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines, stdout).toHaveLength(1)
    const report = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(report["name"]).toBe("adversary")
    expect(report["cores"]).toBeGreaterThan(0)
    for (const key of ["worstHonestP99Ms", "worstHonestSuccess", "worstRssGrowthMB"]) expect(isNumberOrNull(report[key]), key).toBe(true)
    const attacks = report["attacks"] as ReadonlyArray<Record<string, unknown>>
    const reference = report["reference"] as Record<string, unknown>
    expect(attacks.map((a) => a["attack"])).toEqual([...ATTACKS])
    for (const window of [reference, ...attacks]) {
      const what = `${String(window["attack"])}: ${JSON.stringify(window)}\n${stderr.slice(-2_000)}`
      for (const key of ["honestP99Ms", "honestSuccess", "victimRssGrowthMB", "eventLoopMaxMs"]) expect(isNumberOrNull(window[key]), `${key} of ${what}`).toBe(true)
      expect(window["honestCalls"], what).toBeGreaterThan(0)
      expect(window["victimAliveAfter"], what).toBe(true)
    }
    expect(reference["attack"]).toBe("none")
    // The attackers really attacked: each reports calls answered by the victim.
    for (const window of attacks) expect(Object.keys((window["attacker"] ?? {}) as object).length, JSON.stringify(window)).toBeGreaterThan(0)
  }, 120_000)
})
