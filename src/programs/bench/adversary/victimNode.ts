/**
 * The bench's handle on the victim process (`victim.ts`): starts it from a node configuration, keeps
 * its samples (memory, event-loop delay, sync status) and sums them over a window.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import type { PeerId } from "../../../domain/PeerId.js"
import type { ChainConfig } from "../../../testkit/chain.js"
import { encodeNodeConfig, type NodeConfig } from "../../node/NodeConfig.js"
import { JsonLineProcess, type ChildEvent } from "./childProcess.js"

/** One sample the victim printed. */
export interface VictimSample {
  readonly t: number
  readonly rssMB: number
  readonly heapUsedMB: number
  readonly eventLoopMaxMs: number
  readonly syncedCommit: number | null
  readonly bannedPeers: number | null
}

/** The victim's figures over a window. */
export interface VictimWindow {
  /** Peak RSS in the window minus the RSS just before it. */
  readonly rssGrowthMB: number | null
  readonly peakRssMB: number | null
  /** Longest event-loop delay in the window. */
  readonly eventLoopMaxMs: number | null
  readonly samples: number
  /** Highest commit it held at the end of the window, and peers banned then. */
  readonly syncedCommit: number | null
  readonly bannedPeers: number | null
}

/** The chain loaded and stored before the victim serves (generation of a cold cache is not the bench's business). */
const READY_TIMEOUT_MS = 300_000
const victimScript = join(import.meta.dirname, "victim.ts")

/** A running victim. */
export class VictimNode {
  private constructor(
    readonly process: JsonLineProcess,
    readonly samples: ReadonlyArray<VictimSample>,
    readonly address: string,
    readonly peerId: PeerId
  ) {}

  /** Writes the configuration, starts the process and waits until it serves. */
  static async start(options: {
    readonly dir: string
    readonly name: string
    readonly config: NodeConfig
    readonly chain: ChainConfig
    readonly commits: number
  }): Promise<VictimNode> {
    const configFile = join(options.dir, `${options.name}.json`)
    writeFileSync(configFile, JSON.stringify(encodeNodeConfig(options.config)))
    const samples: Array<VictimSample> = []
    const onEvent = (event: ChildEvent) => {
      if (event.event === "sample") samples.push(event as unknown as VictimSample)
    }
    const child = new JsonLineProcess(
      options.name,
      victimScript,
      [configFile, JSON.stringify(options.chain), String(options.commits)],
      join(options.dir, `${options.name}.log`),
      onEvent
    )
    const ready = await child.waitFor("ready", READY_TIMEOUT_MS)
    return new VictimNode(child, samples, String(ready["address"]), String(ready["peerId"]) as PeerId)
  }

  get running(): boolean {
    return this.process.running
  }

  /** Figures of the samples taken in (fromMs, toMs]. */
  window(fromMs: number, toMs: number): VictimWindow {
    const before = this.samples.filter((s) => s.t <= fromMs).at(-1)
    const inside = this.samples.filter((s) => s.t > fromMs && s.t <= toMs)
    const last = inside.at(-1)
    if (inside.length === 0) return { rssGrowthMB: null, peakRssMB: null, eventLoopMaxMs: null, samples: 0, syncedCommit: null, bannedPeers: null }
    const peakRssMB = Math.max(...inside.map((s) => s.rssMB))
    return {
      rssGrowthMB: peakRssMB - (before ?? inside[0]!).rssMB,
      peakRssMB,
      eventLoopMaxMs: Math.max(...inside.map((s) => s.eventLoopMaxMs)),
      samples: inside.length,
      syncedCommit: last?.syncedCommit ?? null,
      bannedPeers: last?.bannedPeers ?? null
    }
  }

  /** Stops the process (SIGTERM: it closes its server and store). */
  stop(): Promise<string> {
    return this.process.stop("SIGTERM", 10_000)
  }
}
