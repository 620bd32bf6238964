/**
 * `NodeConfig`: everything a node operator sets, described once with `Schema` — the JSON file format,
 * its validation and its TypeScript type. A bad file gets one clear message naming the field and the
 * problem (`ConfigError`), which the CLI prints before exiting with code 2. The same schema gives the
 * file's JSON Schema (`soma-p2p config --schema`), for editors and deployment tooling.
 */
import { readFileSync } from "node:fs"
import { Data, Either, JSONSchema, ParseResult, Schema } from "effect"
import { Committee } from "../../domain/committee.js"
import { PeerId } from "../../domain/PeerId.js"
import { Digest, PublicKey, U32, U64 } from "../../domain/primitives.js"

/** `host:port` as a regular expression (the JSON Schema's pattern; the port range is checked apart). */
const HOST_PORT_PATTERN = "^(?:\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):(\\d{1,5})$"

/** `host:port` (IPv4, a name, or `[v6]`), port 1–65535 — what gRPC dials and listens on. */
export const HostPort = Schema.String.pipe(
  Schema.filter(
    (s) => {
      const match = new RegExp(HOST_PORT_PATTERN).exec(s)
      return (match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65_535) || `"${s}" is not host:port (e.g. 127.0.0.1:9000)`
    },
    { description: "host:port, port 1–65535", jsonSchema: { pattern: HOST_PORT_PATTERN } }
  )
)

/** A listen address: like `HostPort`, but port 0 (pick a free port) is allowed. */
export const ListenAddress = Schema.String.pipe(
  Schema.filter((s) => new RegExp(HOST_PORT_PATTERN).test(s) || `"${s}" is not host:port (e.g. 0.0.0.0:9000)`, {
    description: "host:port; port 0 picks a free port",
    jsonSchema: { pattern: HOST_PORT_PATTERN }
  })
)

/** How a node writes its logs (to stderr): logfmt lines, one JSON object per line, or Effect's pretty format. */
export const LogFormat = Schema.Literal("logfmt", "json", "pretty")
export type LogFormat = typeof LogFormat.Type

/** A 32-byte Ed25519 private key seed, as 64 hex characters. */
export const KeySeed = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "a key is 64 lowercase hex characters (a 32-byte Ed25519 seed)" })
)

/** A peer to dial: who it is and where. */
export const PeerAddress = Schema.Struct({ peerId: PeerId, address: HostPort })
export type PeerAddress = typeof PeerAddress.Type

/** A trusted starting point: the last commit taken on trust and the committee of the next commit's epoch. */
export const TrustedCheckpointConfig = Schema.Struct({
  commitRef: Schema.Struct({ index: U32, digest: Digest }),
  committee: Committee
})

const PositiveInt = Schema.Int.pipe(Schema.positive())

/** Discovery knobs (DESIGN.md §5); defaults apply to what is left out. */
export const DiscoveryKnobs = Schema.Struct({
  tickMs: Schema.optionalWith(PositiveInt, { exact: true }),
  peersToQuery: Schema.optionalWith(PositiveInt, { exact: true }),
  targetConnections: Schema.optionalWith(PositiveInt, { exact: true })
})

/** Sync knobs (DESIGN.md §6); defaults apply to what is left out. */
export const SyncKnobs = Schema.Struct({
  window: Schema.optionalWith(PositiveInt, { exact: true }),
  blockChunksInFlight: Schema.optionalWith(PositiveInt, { exact: true }),
  maxRequestsPerPeer: Schema.optionalWith(PositiveInt, { exact: true }),
  heightPollIntervalMs: Schema.optionalWith(PositiveInt, { exact: true })
})

/** Server limits; defaults apply to what is left out. */
export const LimitKnobs = Schema.Struct({
  maxConcurrentCallsPerPeer: Schema.optionalWith(PositiveInt, { exact: true }),
  requestsPerSecondPerPeer: Schema.optionalWith(PositiveInt, { exact: true }),
  /** Inbound connections held at once (default 512). */
  maxInboundConnections: Schema.optionalWith(PositiveInt, { exact: true }),
  /** Inbound connections from one IPv4 address or IPv6 /64 (default 16; raise it when many nodes share a host). */
  maxInboundConnectionsPerAddress: Schema.optionalWith(PositiveInt, { exact: true })
})

/** The node configuration file (each field is described in `FIELD_DESCRIPTIONS`). */
export const NodeConfig = Schema.Struct({
  name: Schema.optional(Schema.String),
  role: Schema.Literal("Validator", "FullNode"),
  networkKey: KeySeed,
  protocolKey: Schema.optional(KeySeed),
  listenAddress: ListenAddress,
  externalAddress: Schema.optional(HostPort),
  seedPeers: Schema.optionalWith(Schema.Array(PeerAddress), { default: () => [] }),
  allowlistedPeers: Schema.optionalWith(Schema.Array(PeerAddress), { default: () => [] }),
  storagePath: Schema.String.pipe(Schema.minLength(1, { message: () => "storagePath must not be empty" })),
  genesisCommittee: Committee,
  trustedCheckpoint: Schema.optional(TrustedCheckpointConfig),
  genesisBalances: Schema.optionalWith(Schema.Array(Schema.Struct({ account: PublicKey, balance: U64 })), { default: () => [] }),
  metricsPort: Schema.optional(Schema.Int.pipe(Schema.between(0, 65_535))),
  plaintext: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  logLevel: Schema.optionalWith(Schema.Literal("debug", "info", "warning", "error"), { default: () => "info" as const }),
  logFormat: Schema.optional(LogFormat),
  discovery: Schema.optionalWith(DiscoveryKnobs, { default: () => ({}) }),
  sync: Schema.optionalWith(SyncKnobs, { default: () => ({}) }),
  limits: Schema.optionalWith(LimitKnobs, { default: () => ({}) })
}).pipe(Schema.filter((c) => c.role === "FullNode" || c.protocolKey !== undefined || "a Validator needs a protocolKey"))
export type NodeConfig = typeof NodeConfig.Type
/** The JSON form of a node configuration (what `genesis` writes). */
export type NodeConfigJson = typeof NodeConfig.Encoded

/** A configuration that cannot be used: one message naming the field and the problem. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

/** The first problem of a parse error, as `field.path: problem`. */
const describe = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return error.message
  const path = first.path.map(String).join(".")
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : ""
  return `${path === "" ? "config" : path}: ${first.message}${more}`
}

/** Validates an already parsed JSON value. */
export const decodeNodeConfig = (json: unknown): Either.Either<NodeConfig, ConfigError> =>
  Either.mapLeft(Schema.decodeUnknownEither(NodeConfig, { errors: "all", onExcessProperty: "error" })(json), (e) => new ConfigError({ message: describe(e) }))

/** Reads and validates a configuration file, applying `overrides` (from CLI flags) on top of it. */
export const loadNodeConfig = (path: string, overrides: Readonly<Record<string, unknown>> = {}): Either.Either<NodeConfig, ConfigError> => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    return Either.left(new ConfigError({ message: `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` }))
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left(new ConfigError({ message: `${path} is not JSON: ${error instanceof Error ? error.message : String(error)}` }))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return Either.left(new ConfigError({ message: `${path}: the configuration must be a JSON object` }))
  return decodeNodeConfig({ ...json, ...overrides })
}

/**
 * What each field of the file means, for people: the JSON Schema's descriptions (editors show them).
 * Typed by the file's fields, so a field added to `NodeConfig` without a description does not compile.
 */
const FIELD_DESCRIPTIONS: { readonly [K in keyof NodeConfigJson]-?: string } = {
  name: "a name for logs and metrics",
  role: "Validator (produces and serves commits; needs protocolKey) or FullNode (syncs and executes them)",
  networkKey: "the network key: a 32-byte Ed25519 seed; its public key is the PeerId",
  protocolKey: "validators only: the protocol key seed, which signs blocks",
  listenAddress: "where the gRPC server listens, host:port (port 0 picks a free port)",
  externalAddress: "what others dial (advertised in the signed NodeInfo); defaults to listenAddress",
  seedPeers: "peers dialled at start to discover the network, each with its PeerId",
  allowlistedPeers: "peers always accepted, each with its PeerId",
  storagePath: "the folder of the node's LMDB store",
  genesisCommittee: "the epoch-0 committee (genesis)",
  trustedCheckpoint: "sync only what comes after this commit, taken on trust, with the committee of the next commit's epoch",
  genesisBalances: "the executor's genesis state: the initial balance of each account (a 32-byte public key)",
  metricsPort: "serve Prometheus metrics at http://127.0.0.1:PORT/metrics and the status API at /status and /peers",
  plaintext: "turn TLS off (tests and debugging only)",
  logLevel: "the lowest level logged (default info)",
  logFormat: "logfmt (default), json (one object per line) or pretty; the --log-format flag overrides it",
  discovery: "discovery knobs; defaults apply to what is left out",
  sync: "state sync knobs; defaults apply to what is left out",
  limits: "server limits (per peer calls and rate, inbound connections in all and per IP address); defaults apply to what is left out"
}

/**
 * The configuration file's JSON Schema (draft-07), made by `JSONSchema.make` from the schema that
 * validates the file, so the two cannot drift. It describes the file as written: fields with defaults
 * are optional. What JSON Schema cannot express (a Validator needs a protocolKey, the port range
 * inside an address, the committee's proofs of possession) is checked only when a node loads the file.
 */
export const nodeConfigJsonSchema = (): JSONSchema.JsonSchema7Root => {
  const generated = JSONSchema.make(NodeConfig)
  if (!("properties" in generated)) return generated
  const properties = Object.fromEntries(
    Object.entries(generated.properties).map(([field, schema]) => [field, { ...schema, description: FIELD_DESCRIPTIONS[field as keyof NodeConfigJson] ?? schema.description }])
  )
  return {
    ...generated,
    title: "soma-p2p node configuration",
    description: "The configuration file of a soma-p2p node: soma-p2p node --config FILE",
    properties
  } as JSONSchema.JsonSchema7Root
}

/** The JSON form of a configuration (for writing files). */
export const encodeNodeConfig = (config: NodeConfig): NodeConfigJson => Schema.encodeSync(NodeConfig)(config)
