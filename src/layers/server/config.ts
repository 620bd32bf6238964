/**
 * `P2pServerConfig`: the knobs of the P2P server's limits, as a Schema so a config file and overrides
 * are validated the same way; defaults (with reasons) in `constants.ts`.
 */
import { Data, Either, ParseResult, Schema } from "effect"
import {
  DEFAULT_BURST,
  DEFAULT_HANDLER_TIMEOUT_MS,
  DEFAULT_MAX_TRACKED_PEERS,
  DEFAULT_NO_PROGRESS_TIMEOUT_MS,
  DEFAULT_RATE_PER_SECOND,
  DEFAULT_STREAM_TIMEOUT_MS
} from "./constants.js"

const PositiveInt = Schema.Int.pipe(Schema.positive())

/** The limits the P2P server enforces on every caller. */
export const P2pServerConfig = Schema.Struct({
  /** Sustained calls per second per caller PeerId (may be fractional). */
  ratePerSecond: Schema.Number.pipe(Schema.finite(), Schema.positive()),
  /** Calls a caller may make at once after being quiet (token-bucket size). */
  burst: PositiveInt,
  /** Callers whose rate state is kept; the bound on the limiter's memory. */
  maxTrackedPeers: PositiveInt,
  /** Time a handler may take for a unary answer or for the next stream message. */
  handlerTimeoutMs: PositiveInt,
  /** Time a whole server stream may stay open. */
  streamTimeoutMs: PositiveInt,
  /** Time a server stream may wait for its reader to take the next message. */
  noProgressTimeoutMs: PositiveInt
})
export type P2pServerConfig = typeof P2pServerConfig.Type

/** The defaults (reasons in `constants.ts`). */
export const defaultP2pServerConfig: P2pServerConfig = {
  ratePerSecond: DEFAULT_RATE_PER_SECOND,
  burst: DEFAULT_BURST,
  maxTrackedPeers: DEFAULT_MAX_TRACKED_PEERS,
  handlerTimeoutMs: DEFAULT_HANDLER_TIMEOUT_MS,
  streamTimeoutMs: DEFAULT_STREAM_TIMEOUT_MS,
  noProgressTimeoutMs: DEFAULT_NO_PROGRESS_TIMEOUT_MS
}

/** A configuration the server cannot work with. */
export class InvalidP2pServerConfig extends Data.TaggedError("InvalidP2pServerConfig")<{ readonly detail: string }> {
  override get message(): string {
    return `invalid P2P server config: ${this.detail}`
  }
}

/** The defaults overridden by `overrides`, validated. */
export const resolveP2pServerConfig = (overrides: Partial<P2pServerConfig>): Either.Either<P2pServerConfig, InvalidP2pServerConfig> =>
  Schema.validateEither(P2pServerConfig)({ ...defaultP2pServerConfig, ...overrides }).pipe(
    Either.mapLeft((error) => new InvalidP2pServerConfig({ detail: ParseResult.TreeFormatter.formatErrorSync(error) }))
  )
