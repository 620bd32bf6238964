/**
 * What every attack gets and gives: the victim's address and PeerId, the attack's parameters, a way to
 * tell the runner it is under way, whether it should stop, and counters it reports (calls answered by
 * status, connections held, …) so a run shows that the attack really happened.
 */
import type { PeerId } from "../../domain/PeerId.js"
import type { ChainConfig } from "../chain.js"

/** The names of the attacks, in the order the bench runs them. */
export const ATTACK_NAMES = [
  "compressedOversized",
  "unreadStreams",
  "garbageFlood",
  "forgedCertifiers",
  "sybilPeers",
  "connectionFlood"
] as const

/** One attack's name. */
export type AttackName = (typeof ATTACK_NAMES)[number]

/** Whether `name` names an attack. */
export const isAttackName = (name: string): name is AttackName => (ATTACK_NAMES as ReadonlyArray<string>).includes(name)

/** What the runner passes to an attacker process (as one JSON argument). */
export interface AttackPlan {
  readonly attack: AttackName
  readonly victim: { readonly address: string; readonly peerId: PeerId }
  /** The chain the victim holds: its config and how many commits it holds (attacks that serve or name its data). */
  readonly chain: { readonly config: ChainConfig; readonly commits: number }
  /** BCS ref (hex) of the largest block the victim holds. */
  readonly largestBlockRef: string
  /** Scale of the attack: 1 is the full attack; smaller for smoke tests. */
  readonly scale: number
}

/** Named counters of an attack, reported as they grow. */
export class Counters {
  readonly values: Record<string, number> = {}

  add(name: string, n = 1): void {
    this.values[name] = (this.values[name] ?? 0) + n
  }

  set(name: string, value: number): void {
    this.values[name] = value
  }

  /** Counts a raw call's outcome by its gRPC status name (or `reset` when it had none). */
  status(status: number | undefined): void {
    this.add(status === undefined ? "reset" : `status${status}`)
  }
}

/** What an attack runs with. */
export interface AttackContext {
  readonly plan: AttackPlan
  readonly counters: Counters
  /** Call once the attack is under way (connections made, first requests sent). */
  readonly ready: () => void
  /** Whether the attack should stop. */
  readonly stopped: () => boolean
  /** Resolves once the attack should stop. */
  readonly stop: Promise<void>
}

/** An attack: runs until `stopped()`; resolves when it has wound down. */
export type Attack = (context: AttackContext) => Promise<void>

/** `n` scaled, at least `min`. */
export const scaled = (plan: AttackPlan, n: number, min = 1): number => Math.max(min, Math.round(n * plan.scale))

/** Runs `count` loops of `body` concurrently until the attack stops. */
export const loops = (context: AttackContext, count: number, body: (index: number) => Promise<void>): Promise<void> =>
  Promise.all(
    Array.from({ length: count }, async (_, index) => {
      while (!context.stopped()) {
        try {
          await body(index)
        } catch {
          context.counters.add("errors")
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
    })
  ).then(() => undefined)
