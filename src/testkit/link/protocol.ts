/**
 * What the parent (link.ts) and the link process (linkProcess.ts) say to each other: the options the
 * process starts with (JSON in argv, so `ps` shows which link a process is), the commands sent over
 * the IPC channel and the process's replies. Described once with `Schema` so both ends decode what
 * they receive instead of trusting it.
 */
import { Either, Schema } from "effect"
import type { LinkConditions } from "./conditions.js"
import type { LinkStats } from "./relay.js"

// Each schema is declared with the TypeScript type it decodes to, so the two cannot drift apart.

const Conditions: Schema.Schema<LinkConditions> = Schema.Struct({
  oneWayDelayMs: Schema.Number,
  bandwidthBitsPerSec: Schema.optionalWith(Schema.Number, { exact: true })
})

const ConditionsChange: Schema.Schema<Partial<LinkConditions>> = Schema.Struct({
  oneWayDelayMs: Schema.optionalWith(Schema.Number, { exact: true }),
  bandwidthBitsPerSec: Schema.optionalWith(Schema.Number, { exact: true })
})

const Stats: Schema.Schema<LinkStats> = Schema.Struct({
  connectionsAccepted: Schema.Number,
  connectionsOpen: Schema.Number,
  bytesForwarded: Schema.Number,
  connectionsRefused: Schema.Number,
  targetFailures: Schema.Number,
  bytesQueued: Schema.Number,
  mode: Schema.Literal("forwarding", "stalled", "cut")
})

/** The link process's start options (argv[2], JSON). */
export const LinkProcessOptions = Schema.Struct({
  /** Names the link in the process's log lines. */
  label: Schema.String,
  targetHost: Schema.String,
  targetPort: Schema.Int,
  listenPort: Schema.Int,
  conditions: Conditions
})
export type LinkProcessOptions = typeof LinkProcessOptions.Type

/** A command from the parent; every command is answered with `done` (and the stats after it) or `failed`. */
export const LinkCommand = Schema.Union(
  Schema.Struct({ id: Schema.Number, command: Schema.Literal("set"), change: ConditionsChange }),
  Schema.Struct({ id: Schema.Number, command: Schema.Literal("cut", "stall", "heal", "stats") }),
  /** Not answered: the process exits, which is the answer. */
  Schema.Struct({ id: Schema.Number, command: Schema.Literal("close") })
)
export type LinkCommand = typeof LinkCommand.Type

/** A message from the link process. */
export const LinkProcessMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("ready"), port: Schema.Int }),
  Schema.Struct({ type: Schema.Literal("startFailed"), message: Schema.String }),
  Schema.Struct({ type: Schema.Literal("done"), id: Schema.Number, stats: Stats }),
  Schema.Struct({ type: Schema.Literal("failed"), id: Schema.Number, message: Schema.String })
)
export type LinkProcessMessage = typeof LinkProcessMessage.Type

/** Decodes a received value, or says why it is not one. */
export const decodeOrProblem = <A, I>(schema: Schema.Schema<A, I>, value: unknown): Either.Either<A, string> =>
  Either.mapLeft(Schema.decodeUnknownEither(schema)(value), (error) => error.message)
