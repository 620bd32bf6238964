import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { devnetGenesis } from "../../src/programs/devnet/layout.js"
import { decodeNodeConfig, encodeNodeConfig, loadNodeConfig } from "../../src/programs/node/NodeConfig.js"

const dir = mkdtempSync(join(tmpdir(), "soma-config-"))
const { nodes } = devnetGenesis({ validators: 4, fullnodes: 1, basePort: 9100, dir, plaintext: false, seed: 3, commitsPerEpoch: 10, transactionsPerBlock: 1 })
const valid = encodeNodeConfig(nodes[4]!.config) as Record<string, unknown>
const validator = encodeNodeConfig(nodes[0]!.config) as Record<string, unknown>

const problem = (json: unknown) => {
  const result = decodeNodeConfig(json)
  return Either.isLeft(result) ? result.left.message : "valid"
}

describe("NodeConfig: a bad file gets one clear message naming the field and the problem", () => {
  it("a valid full-node and validator configuration round-trips", () => {
    expect(problem(valid)).toBe("valid")
    expect(problem(validator)).toBe("valid")
  })

  it("missing field", () => {
    const { storagePath: _omit, ...rest } = valid
    expect(problem(rest)).toMatch(/^storagePath: is missing/)
  })

  it("wrong type", () => {
    expect(problem({ ...valid, metricsPort: "9000" })).toMatch(/^metricsPort: Expected number/)
  })

  it("bad key", () => {
    expect(problem({ ...valid, networkKey: "xyz" })).toMatch(/^networkKey: a key is 64 lowercase hex characters/)
    const committee = valid["genesisCommittee"] as { authorities: Array<Record<string, unknown>> }
    const badCommittee = { ...committee, authorities: [{ ...committee.authorities[0], protocolKey: "00".repeat(31) }, ...committee.authorities.slice(1)] }
    expect(problem({ ...valid, genesisCommittee: badCommittee })).toMatch(/^genesisCommittee\.authorities\.0\.protocolKey: PublicKey must be 32 bytes, got 31/)
  })

  it("unreachable seed format", () => {
    const seeds = valid["seedPeers"] as Array<Record<string, unknown>>
    expect(problem({ ...valid, seedPeers: [{ ...seeds[0], address: "localhost" }] })).toMatch(/^seedPeers\.0\.address: "localhost" is not host:port/)
    expect(problem({ ...valid, seedPeers: [{ ...seeds[0], peerId: "abc" }] })).toMatch(/^seedPeers\.0\.peerId: a PeerId is 64 lowercase hex/)
  })

  it("a validator without a protocol key, and unknown fields", () => {
    const { protocolKey: _omit, ...noKey } = validator
    expect(problem(noKey)).toMatch(/a Validator needs a protocolKey/)
    expect(problem({ ...valid, seedPeer: [] })).toMatch(/^seedPeer: is unexpected/)
  })

  it("a file that is not JSON, and a file that does not exist", () => {
    const path = join(dir, "broken.json")
    writeFileSync(path, "{ not json")
    const broken = loadNodeConfig(path)
    expect(Either.isLeft(broken) && broken.left.message).toMatch(/is not JSON/)
    const missing = loadNodeConfig(join(dir, "nope.json"))
    expect(Either.isLeft(missing) && missing.left.message).toMatch(/^cannot read/)
  })

  it("the CLI prints the message and exits with code 2", () => {
    const path = join(dir, "bad.json")
    writeFileSync(path, JSON.stringify({ ...valid, listenAddress: 42 }))
    const run = spawnSync(process.execPath, ["--import", "tsx", "src/programs/cli.ts", "node", "--config", path], { encoding: "utf8", timeout: 60_000 })
    expect(run.status).toBe(2)
    expect(run.stderr).toContain("bad configuration: listenAddress: Expected string")
  })
})
