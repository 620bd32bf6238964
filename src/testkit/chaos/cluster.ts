/**
 * A devnet whose full nodes reach and are reached only through the link emulator, for the life of a scope: V validators and F
 * full nodes as separate OS processes (real gRPC with mutual TLS, LMDB, discovery, the reference
 * executor) and one link per ordered pair of nodes that dial each other — so a partition or a slow
 * link is one node's view of one other node, in both directions:
 *
 * - full node → validator: the validator is a seed of the full node, at its link's address;
 * - validator → full node and full node → full node: the full node is allowlisted, at its link's address;
 * - validator → validator: direct on loopback (validators are seeds of each other), or through links
 *   with `linkValidatorPairs`.
 *
 * A configured address wins over the one in a peer's signed NodeInfo (ranking.ts `dialAddress`), and
 * every pair is configured, so discovery never finds a path around the links. Closing the scope kills
 * every node, closes every link and removes the temp dir (stores, configs, logs).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { devnetGenesis, writeDevnetConfigs, type DevnetNode } from "../../programs/devnet/layout.js"
import type { ProducerConfig } from "../../programs/devnet/producer.js"
import type { PeerAddress } from "../../programs/node/NodeConfig.js"
import { startLink, type Link, type LinkConditions, type LinkOptions } from "../link/link.js"
import { SeededRandom } from "../rng.js"
import { NodeProcess } from "./nodeProcess.js"
import type { ChaosScenario } from "./scenario.js"

/** Base ports are tried in this range, below Linux's ephemeral ports (32768+), where links listen. */
const BASE_PORT_RANGE: readonly [number, number] = [20_000, 32_000]
const BASE_PORT_ATTEMPTS = 50

/**
 * Links started at once. Each is a process that needs about a second of CPU to start; started all
 * together on a busy 2-core machine, some missed link.ts's 30 s start deadline.
 */
const LINK_START_CONCURRENCY = 6

/** The link one node dials another through. */
export interface PairLink {
  /** The node that dials. */
  readonly from: string
  /** The node dialled (the link's target). */
  readonly to: string
  readonly link: Link
  /** What the link normally is (restored after a fault). */
  readonly conditions: LinkConditions
}

/** How a cluster is run (not part of what the scenario does). */
export interface ClusterOptions {
  /** Keep the temp dir (stores, configs, logs) after the scope closes. */
  readonly keep?: boolean
  readonly logLevel?: "debug" | "info" | "warning" | "error"
  /** When something worth a timeline line happens to a node (ready, an unexpected exit). */
  readonly onEvent: (text: string) => void
}

/** A running chaos cluster. */
export interface Cluster {
  readonly dir: string
  readonly basePort: number
  readonly nodes: ReadonlyArray<NodeProcess>
  readonly links: ReadonlyArray<PairLink>
  readonly node: (name: string) => NodeProcess
}

/** Whether `port` on 127.0.0.1 is free right now. */
const portIsFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/**
 * A block of `count` consecutive free ports, from a spot derived from `seed`: the nodes listen on the
 * first ones (their addresses are part of the chain: the committee lists the validators), the links on
 * the rest, so every address is known before any process starts and all of them start at once.
 */
const findFreePorts = async (seed: number, count: number): Promise<number> => {
  const [low, high] = BASE_PORT_RANGE
  const rng = new SeededRandom((seed * 7919) ^ process.pid)
  for (let attempt = 0; attempt < BASE_PORT_ATTEMPTS; attempt++) {
    const base = low + rng.nextInt(high - low - count)
    const free = await Promise.all(Array.from({ length: count }, (_, i) => portIsFree(base + i)))
    if (free.every(Boolean)) return base
  }
  throw new Error(`no ${count} consecutive free ports found in ${low}–${high}`)
}

/**
 * A link for the life of the scope, like link.ts `linkResource`, but a relay that does not start is a
 * failure (reported by the run) rather than a defect, after one more try.
 */
const startedLink = (options: LinkOptions): Effect.Effect<Link, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => startLink(options), catch: (e) => (e instanceof Error ? e : new Error(String(e))) }).pipe(Effect.retry({ times: 1 })),
    (link) => Effect.promise(() => link.close())
  )

/** The ordered pairs (dialler, dialled) that go through a link. */
const linkedPairs = (nodes: ReadonlyArray<DevnetNode>, linkValidatorPairs: boolean): Array<readonly [DevnetNode, DevnetNode]> =>
  nodes.flatMap((from) =>
    nodes.filter((to) => to !== from && (linkValidatorPairs || from.role === "FullNode" || to.role === "FullNode")).map((to) => [from, to] as const)
  )

/** How many links a scenario has (the size of `linkedPairs`). */
const linkCount = (scenario: ChaosScenario): number => {
  const n = scenario.validators + scenario.fullnodes
  return n * (n - 1) - (scenario.linkValidatorPairs ? 0 : scenario.validators * (scenario.validators - 1))
}

/** A link before it runs: who dials whom through which port, under which conditions. */
interface PlannedLink {
  readonly from: DevnetNode
  readonly to: DevnetNode
  readonly port: number
  readonly conditions: LinkConditions
}

/**
 * The node's configuration with every other node at the address it dials: validators as seeds, full
 * nodes allowlisted (full nodes start with no validator knowing them), through a link where there is one.
 */
const configuredPeers = (
  node: DevnetNode,
  nodes: ReadonlyArray<DevnetNode>,
  links: ReadonlyArray<PlannedLink>,
  logLevel: NonNullable<ClusterOptions["logLevel"]>
): DevnetNode => {
  const addressOf = (other: DevnetNode): string => {
    const link = links.find((l) => l.from === node && l.to === other)
    return link === undefined ? other.address : `127.0.0.1:${link.port}`
  }
  const others = nodes.filter((n) => n !== node)
  const peer = (other: DevnetNode): PeerAddress => ({ peerId: other.peerId, address: addressOf(other) })
  // No metrics endpoint: its port would be one more to collide with other runs on the machine.
  const { metricsPort: _metricsPort, ...config } = node.config
  return {
    ...node,
    config: {
      ...config,
      logLevel,
      seedPeers: others.filter((o) => o.role === "Validator").map(peer),
      allowlistedPeers: others.filter((o) => o.role === "FullNode").map(peer)
    }
  }
}

/**
 * Starts the cluster's links, then its nodes (so that no node's first dial finds a link not yet
 * listening and backs off), and resolves once the nodes are spawned; waiting for them to be ready is
 * the caller's. Closing the scope kills the nodes, then closes the links, then removes the temp dir.
 */
export const startCluster = (scenario: ChaosScenario, options: ClusterOptions): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "soma-chaos-"))),
      (dir) => Effect.sync(() => (options.keep === true ? process.stderr.write(`chaos: kept ${dir}\n`) : rmSync(dir, { recursive: true, force: true })))
    )
    const count = scenario.validators + scenario.fullnodes
    const basePort = yield* Effect.tryPromise({ try: () => findFreePorts(scenario.seed, count + linkCount(scenario)), catch: (e) => e as Error })
    const { chain, nodes } = devnetGenesis({
      validators: scenario.validators,
      fullnodes: scenario.fullnodes,
      basePort,
      dir,
      plaintext: false,
      seed: scenario.seed,
      commitsPerEpoch: scenario.commitsPerEpoch,
      transactionsPerBlock: scenario.transactionsPerBlock
    })
    const rng = new SeededRandom(scenario.seed ^ 0x11_4b)
    const planned = linkedPairs(nodes, scenario.linkValidatorPairs).map(
      ([from, to], k): PlannedLink => ({
        from,
        to,
        port: basePort + count + k,
        conditions: {
          oneWayDelayMs: scenario.linkDelayMs[0] + rng.nextInt(scenario.linkDelayMs[1] - scenario.linkDelayMs[0] + 1),
          bandwidthBitsPerSec: scenario.linkBandwidthBitsPerSec
        }
      })
    )

    const configured = nodes.map((n) => configuredPeers(n, nodes, planned, options.logLevel ?? "info"))
    writeDevnetConfigs(configured)
    const { validatorAddress: _address, ...chainJson } = chain
    const producer: ProducerConfig = { chain: chainJson, basePort, rate: scenario.rate, commits: scenario.commits }
    const processes = yield* Effect.forEach(configured, (n) =>
      Effect.acquireRelease(
        Effect.sync(
          () =>
            new NodeProcess({
              name: n.name,
              role: n.role,
              peerId: n.peerId,
              address: n.address,
              configFile: n.configFile,
              logFile: join(dir, `${n.name}.log`),
              ...(n.role === "Validator" ? { producer } : {}),
              onEvent: options.onEvent
            })
        ),
        (p) => Effect.promise(() => p.dispose())
      )
    )
    const links = yield* Effect.forEach(
      planned,
      ({ from, to, port, conditions }) =>
        Effect.map(
          startedLink({ target: to.address, listenPort: port, ...conditions, label: `${from.name}->${to.name}`, logFile: join(dir, "links.log") }),
          (link): PairLink => ({ from: from.name, to: to.name, link, conditions })
        ),
      { concurrency: LINK_START_CONCURRENCY }
    )
    for (const p of processes) p.start()
    // Runs before the links close (finalizers run in reverse): no node sees its links go first.
    yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all(processes.map((p) => p.kill("SIGKILL")))))
    const node = (name: string): NodeProcess => {
      const found = processes.find((p) => p.name === name)
      if (found === undefined) throw new Error(`no node named ${name}`)
      return found
    }
    return { dir, basePort, nodes: processes, links, node }
  })
