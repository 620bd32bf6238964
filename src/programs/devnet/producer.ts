/**
 * The devnet's stand-in for consensus on a validator: the deterministic chain generator, driven at a
 * steady rate, hands each commit to `StateSync.sendCommit` (the validator path). Every validator runs
 * the same generator with the same seed, so they all produce the same chain; a validator that is
 * behind (restarted, slow) simply finds the commit already synced from its peers.
 */
import { Effect, Schedule } from "effect"
import { ChainGenerator, type ChainConfig } from "../../testkit/chain.js"
import type { StateSyncService } from "../../services/StateSync.js"

/** The loopback address of devnet node `i` (also what the committee lists for validator `i`). */
export const devnetAddress = (basePort: number, i: number): string => `127.0.0.1:${basePort + i}`

/** What a devnet validator produces (plain JSON: it is passed to the validator's process). */
export interface ProducerConfig {
  readonly chain: Omit<ChainConfig, "validatorAddress">
  /** The committee lists validator i at `devnetAddress(basePort, i)`; part of the chain's bytes. */
  readonly basePort: number
  /** Commits per second. */
  readonly rate: number
  /** Stop after this many commits (none: for ever). */
  readonly commits?: number
}

/** Produces commits until `commits` (or for ever); resolves when done. */
export const produceCommits = (sync: StateSyncService, config: ProducerConfig): Effect.Effect<number> =>
  Effect.gen(function* () {
    const iterator = new ChainGenerator({ ...config.chain, validatorAddress: (i) => devnetAddress(config.basePort, i) }).commits()
    const limit = config.commits ?? Number.POSITIVE_INFINITY
    let produced = 0
    const step = Effect.gen(function* () {
      const next = iterator.next()
      if (next.done === true) return
      const generated = next.value
      produced = generated.subDag.commitRef.index
      yield* sync.sendCommit(generated.subDag, generated.certifierBlocks).pipe(
        // Already synced from a faster peer (this validator was behind): nothing to do.
        Effect.catchTag("StoreInconsistency", (e) => (e.reason === "CommitAlreadyStored" ? Effect.void : Effect.fail(e))),
        Effect.catchAll((e) => Effect.logWarning(`could not store commit ${produced}: ${e.message}`))
      )
    })
    yield* step.pipe(Effect.repeat({ schedule: Schedule.spaced(Math.max(1, Math.round(1000 / config.rate))), while: () => produced < limit }))
    return produced
  })
