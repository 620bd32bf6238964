/**
 * The syncing node of the sync benchmark, in its own process so that its time and peak memory are
 * its own: syncs `commits` commits from the given servers into a fresh LMDB store and prints one JSON
 * line `{"seconds":…,"peakRssMB":…}`.
 * argv: storePath, servers JSON [{peerId, address}], genesis committee seed config JSON, commits, plan JSON.
 */
import { performance } from "node:perf_hooks"
import { Effect, Stream } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { ZERO_DIGEST } from "../../domain/primitives.js"
import { ChainGenerator, type ChainConfig } from "../../domain/testkit/chain.js"
import { deriveSeed, TestSigner } from "../../domain/testkit/keys.js"
import type { SyncPlanConfig } from "../../layers/sync/syncPlan.js"
import { startSyncNode } from "../syncNode.js"

const [storePath, serversJson, chainJson, commitsText, planJson] = process.argv.slice(2) as [string, string, string, string, string]
const servers = JSON.parse(serversJson) as ReadonlyArray<{ readonly peerId: PeerId; readonly address: string }>
const committee = new ChainGenerator(JSON.parse(chainJson) as ChainConfig).committee(0)
const commits = Number(commitsText)
const plan = JSON.parse(planJson) as Partial<SyncPlanConfig>
const signer = new TestSigner(deriveSeed("bench-fresh", storePath.length))

const program = Effect.scoped(
  Effect.gen(function* () {
    const node = yield* startSyncNode({
      keypair: { seed: signer.seed, publicKey: signer.publicKey },
      listenAddress: "127.0.0.1:0",
      storePath,
      sync: { start: { commitRef: { index: 0, digest: ZERO_DIGEST }, committee }, ...plan }
    })
    const begin = performance.now()
    for (const s of servers) yield* Effect.orDie(node.network.dial(s.peerId, s.address))
    yield* node.sync.commits(1).pipe(Stream.take(commits), Stream.runDrain)
    return (performance.now() - begin) / 1000
  })
)

Effect.runPromise(program).then(
  (seconds) => {
    console.log(JSON.stringify({ seconds, peakRssMB: process.resourceUsage().maxRSS / 1024 }))
    process.exit(0)
  },
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
