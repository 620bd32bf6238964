/**
 * Validation of the six P2P requests with `Schema`, on the decoded protobuf objects, before any
 * handler runs. Each route has stages checked in order; the first failure answers the call with its
 * stage's status and a message naming the field (`FetchCommits.start: …`). Cheap checks come first:
 * FetchBlocks' ref count is checked before a single ref is looked at.
 */
import { Either, Option, ParseResult, Schema } from "effect"
import { P2pMethods } from "../../proto/P2pMethods.js"
import { HandlerStatus } from "../../services/Network.js"
import { BLOCK_REF_LENGTH, COMMIT_REF_LENGTH, MAX_BLOCK_REFS_PER_REQUEST, MAX_OWN_INFO_BYTES, U32_MAX } from "./constants.js"

const bytesOfLength = (length: number, what: string) =>
  Schema.Uint8ArrayFromSelf.pipe(Schema.filter((bytes) => bytes.length === length || `must be exactly ${length} bytes (BCS ${what}), got ${bytes.length}`))

const u32From = (min: number) =>
  Schema.Number.pipe(Schema.filter((n) => (Number.isInteger(n) && n >= min && n <= U32_MAX) || `must be an integer in ${min}..${U32_MAX}, got ${n}`))

/** `GetKnownPeers`: the caller's SignedNodeInfo, no longer than the largest one that can decode. */
export const GetKnownPeersRequestSchema = Schema.Struct({
  ownInfo: Schema.Uint8ArrayFromSelf.pipe(
    Schema.filter((bytes) => bytes.length <= MAX_OWN_INFO_BYTES || `must be at most ${MAX_OWN_INFO_BYTES} bytes, got ${bytes.length}`)
  )
})

/** `GetCommitAvailability`: no fields. */
export const GetCommitAvailabilityRequestSchema = Schema.Struct({})

/** `GetCommitInfo`: a query must be present — the latest commit or a u32 index. */
export const GetCommitInfoRequestSchema = Schema.Struct({
  query: Schema.Union(
    Schema.Struct({ $case: Schema.Literal("latest"), value: Schema.Struct({}) }),
    Schema.Struct({ $case: Schema.Literal("index"), value: u32From(0) })
  ).annotations({ message: () => "must be `latest` or `index`" })
})

/** `PushCommit`: a BCS CommitRef. */
export const PushCommitRequestSchema = Schema.Struct({ commitRef: bytesOfLength(COMMIT_REF_LENGTH, "CommitRef") })

/** `FetchCommits`: an inclusive u32 range starting at 1 or later. */
export const FetchCommitsRequestSchema = Schema.Struct({ start: u32From(1), end: u32From(0) }).pipe(
  Schema.filter((r) => r.end >= r.start || { path: ["end"], message: `must be ≥ start (${r.start}), got ${r.end}` })
)

/** Narrows to an array without touching its elements. */
const isArray = (u: unknown): u is ReadonlyArray<unknown> => Array.isArray(u)

/**
 * `FetchBlocks`, first stage: the count alone, before any element is looked at (over it is
 * RESOURCE_EXHAUSTED, whatever the refs hold; a non-array is left to the second stage).
 */
export const FetchBlocksCountSchema = Schema.Struct({
  blockRefs: Schema.Unknown.pipe(
    Schema.filter((u) => !isArray(u) || u.length <= MAX_BLOCK_REFS_PER_REQUEST || `at most ${MAX_BLOCK_REFS_PER_REQUEST} refs per request, got ${u.length}`)
  )
})

/** `FetchBlocks`: each ref a BCS BlockRef. */
export const FetchBlocksRequestSchema = Schema.Struct({ blockRefs: Schema.Array(bytesOfLength(BLOCK_REF_LENGTH, "BlockRef")) })

/** One validation step: its check, and the status a failure gets. */
interface Stage {
  readonly check: (request: unknown) => Option.Option<ParseResult.ParseError>
  readonly code: "INVALID_ARGUMENT" | "RESOURCE_EXHAUSTED"
}

const stage = <A, I>(schema: Schema.Schema<A, I>, code: Stage["code"] = "INVALID_ARGUMENT"): Stage => {
  const validate = Schema.validateEither(schema, { errors: "first" })
  return { check: (request) => Either.getLeft(validate(request)), code }
}

const showPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => (typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`)).join("")

/** `Method.field: reason` for the first issue of a parse error. */
const describe = (method: string, error: ParseResult.ParseError): string => {
  const first = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (first === undefined) return `${method}: invalid request`
  return first.path.length === 0 ? `${method}: ${first.message}` : `${method}.${showPath(first.path)}: ${first.message}`
}

/** The stages of each P2P route, by gRPC path. */
const stagesByPath: ReadonlyMap<string, { readonly method: string; readonly stages: ReadonlyArray<Stage> }> = new Map([
  [P2pMethods.GetKnownPeers.path, { method: "GetKnownPeers", stages: [stage(GetKnownPeersRequestSchema)] }],
  [P2pMethods.GetCommitAvailability.path, { method: "GetCommitAvailability", stages: [stage(GetCommitAvailabilityRequestSchema)] }],
  [P2pMethods.GetCommitInfo.path, { method: "GetCommitInfo", stages: [stage(GetCommitInfoRequestSchema)] }],
  [P2pMethods.PushCommit.path, { method: "PushCommit", stages: [stage(PushCommitRequestSchema)] }],
  [P2pMethods.FetchCommits.path, { method: "FetchCommits", stages: [stage(FetchCommitsRequestSchema)] }],
  [
    P2pMethods.FetchBlocks.path,
    { method: "FetchBlocks", stages: [stage(FetchBlocksCountSchema, "RESOURCE_EXHAUSTED"), stage(FetchBlocksRequestSchema)] }
  ]
])

/** Whether the server guards `path` (one of the six P2P routes). */
export const isGuardedPath = (path: string): boolean => stagesByPath.has(path)

/**
 * The status a request to `path` is refused with, if any. Paths other than the six P2P routes are
 * not looked at (none).
 */
export const validateRequest = (path: string, request: unknown): Option.Option<HandlerStatus> => {
  const route = stagesByPath.get(path)
  if (route === undefined) return Option.none()
  for (const { check, code } of route.stages) {
    const failure = check(request)
    if (Option.isSome(failure)) return Option.some(new HandlerStatus({ code, detail: describe(route.method, failure.value) }))
  }
  return Option.none()
}
