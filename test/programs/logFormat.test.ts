/**
 * `--log-format json` on the node program: every log line on stderr is one JSON object (level, message,
 * timestamp), and a SIGTERM stops the node promptly and cleanly (exit 0, its stop logged as JSON too).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { devnetGenesis } from "../../src/programs/devnet/layout.js"
import { encodeNodeConfig } from "../../src/programs/node/NodeConfig.js"

const dir = mkdtempSync(join(tmpdir(), "soma-log-format-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface JsonLog {
  readonly message: unknown
  readonly logLevel: string
  readonly timestamp: string
}

describe("--log-format json", () => {
  it("node: every stderr line is a JSON log object; SIGTERM stops it cleanly within seconds", async () => {
    const { nodes } = devnetGenesis({ validators: 4, fullnodes: 1, basePort: 9300, dir, plaintext: false, seed: 7, commitsPerEpoch: 10, transactionsPerBlock: 1 })
    const fullNode = nodes[4]!
    // Its seed (a validator that is not running) is unreachable: the node also logs its failed dials.
    const configFile = join(dir, "fullnode.json")
    writeFileSync(configFile, JSON.stringify({ ...encodeNodeConfig(fullNode.config), listenAddress: "127.0.0.1:0", metricsPort: undefined }))
    const child = spawn(process.execPath, ["--import", "tsx", "src/programs/cli.ts", "node", "--config", configFile, "--log-format", "json"], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on("exit", (code) => resolve({ code, at: Date.now() })))
    const end = Date.now() + 60_000
    while (!stderr.includes("listening on") && Date.now() < end && child.exitCode === null) await new Promise((r) => setTimeout(r, 100))
    expect(stderr).toContain("listening on")
    const sent = Date.now()
    child.kill("SIGTERM")
    const exit = await exited
    expect(exit.code, stderr.slice(-2000)).toBe(0)
    expect(exit.at - sent).toBeLessThan(5_000)

    const lines = stderr.split("\n").filter((l) => l.length > 0)
    const logs = lines.map((l) => JSON.parse(l) as JsonLog)
    for (const log of logs) {
      expect(["DEBUG", "INFO", "WARN", "ERROR"]).toContain(log.logLevel)
      expect(Number.isNaN(Date.parse(log.timestamp))).toBe(false)
    }
    const messages = logs.map((l) => String(l.message))
    expect(messages.some((m) => m.startsWith(`node ${fullNode.name} (${fullNode.peerId}) listening on 127.0.0.1:`))).toBe(true)
    expect(messages.some((m) => /^node fullnode-0 stopped in \d+ ms$/.test(m))).toBe(true)
  }, 90_000)
})
