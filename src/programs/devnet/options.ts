/** What the `devnet` command is asked to run: the network's shape, the chain it produces, when to stop. */
import type { LogFormat } from "../node/NodeConfig.js"

/** Options of the devnet command. */
export interface DevnetOptions {
  readonly validators: number
  readonly fullnodes: number
  readonly commits?: number
  readonly exitWhenSynced: boolean
  readonly json: boolean
  readonly basePort: number
  readonly plaintext: boolean
  /** Commits per second produced by the validators. */
  readonly rate: number
  readonly commitsPerEpoch: number
  readonly transactionsPerBlock: number
  readonly seed: number
  /** Kill one validator (not the seed) with SIGKILL once a full node has synced this many commits. */
  readonly killValidatorAt?: number
  /** Give up after this long (with --exit-when-synced). */
  readonly timeoutSeconds?: number
  /** Keep the temp dir (stores and logs) after exit. */
  readonly keep?: boolean
  /** The nodes' log format (their logs are in the temp dir); their configs' default otherwise. */
  readonly logFormat?: LogFormat
}
