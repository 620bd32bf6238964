// temporary: reproduce a validator stuck at commit 3 (delete after use)
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { devnetGenesis, writeDevnetConfigs } from "../src/programs/devnet/layout.js"
import { NodeProcess } from "../src/testkit/chaos/nodeProcess.js"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
for (let run = 0; run < Number(process.argv[2] ?? 5); run++) {
  const dir = mkdtempSync(join(tmpdir(), "soma-stall-"))
  const basePort = 24000 + run * 10
  const { chain, nodes } = devnetGenesis({ validators: 4, fullnodes: 0, basePort, dir, plaintext: false, seed: 1, commitsPerEpoch: 80, transactionsPerBlock: 4 })
  const configured = nodes.map((n) => { const { metricsPort: _m, ...c } = n.config; return { ...n, config: { ...c, logLevel: "debug" as const } } })
  writeDevnetConfigs(configured)
  const { validatorAddress: _a, ...chainJson } = chain
  const producer = { chain: chainJson, basePort, rate: 10, commits: 40 }
  const procs = configured.map((n) => new NodeProcess({ name: n.name, role: n.role, peerId: n.peerId, address: n.address, configFile: n.configFile, logFile: join(dir, `${n.name}.log`), producer, onEvent: () => undefined }))
  const late = procs[1]!
  for (const p of procs) if (p !== late) p.start()
  const t0 = Date.now()
  while ((procs[0]!.status?.highestSyncedCommit ?? 0) < Number(process.argv[3] ?? 2) && Date.now() - t0 < 60_000) await sleep(50)
  late.start()
  const t1 = Date.now()
  while (Date.now() - t1 < 40_000 && !procs.every((p) => (p.status?.highestExecuted ?? 0) >= 40)) await sleep(250)
  const heights = procs.map((p) => `${p.name} ${p.status?.highestSyncedCommit}/${p.status?.highestExecuted}`).join(" ")
  const stuck = !procs.every((p) => (p.status?.highestExecuted ?? 0) >= 40)
  console.log(`run ${run}: ${stuck ? "STUCK" : "ok"} ${heights}${stuck ? ` kept ${dir}` : ""}`)
  await Promise.all(procs.map((p) => p.dispose()))
  if (!stuck) rmSync(dir, { recursive: true, force: true })
}
process.exit(0)
