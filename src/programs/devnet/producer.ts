/**
 * The devnet's stand-in for consensus on a validator: the deterministic chain generator, driven at a
 * steady rate, hands each commit to `StateSync.sendCommit` (the validator path). Every validator runs
 * the same generator with the same seed, so they all produce the same chain; a validator that is
 * behind (restarted, slow) simply finds the commit already synced from its peers.
 */
import { Effect } from "effect"
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

/**
 * Produces commits until `commits` (or for ever); resolves when done. Each commit is stored at commit time
 * without its votes (`sendCommit`), and the next round's blocks, which carry the votes, are recorded half
 * an interval later (`recordVotes`) — as a validator fed by consensus does, so its certified tip trails
 * its stored tip by up to one commit. A restarted validator skips what its store already holds at once
 * (re-recording the votes of its last stored commit, which a crash may have lost) and produces from there.
 */
export const produceCommits = (sync: StateSyncService, config: ProducerConfig): Effect.Effect<number> =>
  Effect.gen(function* () {
    const iterator = new ChainGenerator({ ...config.chain, validatorAddress: (i) => devnetAddress(config.basePort, i) }).commits()
    const limit = config.commits ?? Number.POSITIVE_INFINITY
    const intervalMs = Math.max(2, Math.round(1000 / config.rate))
    let produced = 0
    const stored = yield* Effect.orElseSucceed(Effect.map(sync.status, (s) => s.highestSyncedCommit), () => 0)
    for (;;) {
      const next = iterator.next()
      if (next.done === true || produced >= limit) break
      const generated = next.value
      produced = generated.subDag.commitRef.index
      // Each commit costs tens of ms of CPU (the generator signs every block), and on a restart every
      // stored commit is generated again before production resumes: without a turn of the event loop
      // in between, a validator with 1,000 stored commits ignored SIGTERM (and stopped reporting) for
      // about 40 s. A timer turn lets signals, status reports and interruption through.
      yield* Effect.sleep(0)
      if (produced < stored) continue
      if (produced > stored) {
        const fresh = yield* sync.sendCommit(generated.subDag).pipe(
          Effect.as(true),
          // Already synced from a faster peer (this validator was behind): nothing to do.
          Effect.catchTag("StoreInconsistency", (e) => (e.reason === "CommitAlreadyStored" ? Effect.succeed(false) : Effect.fail(e))),
          Effect.catchAll((e) => Effect.as(Effect.logWarning(`could not store commit ${produced}: ${e.message}`), false))
        )
        if (!fresh) continue
        yield* Effect.sleep(intervalMs / 2)
      }
      yield* sync.recordVotes(generated.certifierBlocks).pipe(
        Effect.catchAll((e) => Effect.logWarning(`could not record the votes for commit ${produced}: ${e.message}`))
      )
      yield* Effect.sleep(intervalMs / 2)
    }
    return produced
  })
