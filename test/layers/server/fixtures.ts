/**
 * Fixtures of the P2P server tests: a server node whose `Network` is decorated by the P2P server,
 * caller nodes dialled to it (simulated under `TestClock`, or gRPC on loopback), stub handlers that
 * count their calls, the outcome of a call as a status name, and a log capture.
 */
import { Chunk, Effect, Either, Logger, Ref, Stream, type Scope } from "effect"
import { makeGrpcNetwork } from "../../../src/layers/network/grpc/GrpcNetworkLayer.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import type { P2pServerConfig } from "../../../src/layers/server/config.js"
import { makeP2pServer } from "../../../src/layers/server/P2pServerLayer.js"
import { P2P_SERVICE, P2pMethods } from "../../../src/proto/P2pMethods.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import { Network, protoCodec, unaryMethod, type CallError, type NetworkService, type StatusCodeName } from "../../../src/services/Network.js"
import { rawCodec, testKeypair, testPeerId } from "../network/fixtures.js"
import { settleSimulated } from "../network/harness.js"

/** A server and its callers, each caller dialled to the server. */
export interface ServerWorld {
  readonly server: NetworkService
  readonly callers: ReadonlyArray<NetworkService>
}

/**
 * Simulated nodes (the server has test key 0, caller `i` key `i + 1`), linked with `latencyMs` one way;
 * run under `settled`. Each simulated call costs a few TestClock steps of real time, so tests keep
 * their call counts in the hundreds.
 */
export const simWorld = (config: Partial<P2pServerConfig>, callerCount: number, latencyMs = 10): Effect.Effect<ServerWorld, never, Scope.Scope> =>
  Effect.gen(function* () {
    const world = yield* makeSimNetwork({ seed: 11, defaultLink: { latencyMs, lossProbability: 0 } })
    const build = Effect.gen(function* () {
      const inner = yield* makeSimNode({ peerId: testPeerId(0, "p2p-server") })
      const server = yield* makeP2pServer(config).pipe(Effect.provideService(Network, inner), Effect.orDie)
      const callers: Array<NetworkService> = []
      for (let i = 1; i <= callerCount; i++) callers.push(yield* makeSimNode({ peerId: testPeerId(i, "p2p-server") }))
      for (const caller of callers) yield* Effect.orDie(caller.dial(server.localPeerId, server.listenAddress))
      return { server, callers }
    })
    return yield* Effect.provideService(build, SimNetwork, world)
  })

/** Runs a simulation to its end under `TestClock`, with the caller's services (nodes live in its scope). */
export const settled = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.context<R>(), (context) => settleSimulated(Effect.provide(effect, context)))

/** Nodes over gRPC with TLS on loopback, on real time. */
export const grpcWorld = (config: Partial<P2pServerConfig>, callerCount: number): Effect.Effect<ServerWorld, never, Scope.Scope> =>
  Effect.gen(function* () {
    const node = (i: number) => makeGrpcNetwork({ keypair: testKeypair(i, "p2p-server"), listenAddress: "127.0.0.1:0" }).pipe(Effect.orDie)
    const server = yield* makeP2pServer(config).pipe(Effect.provideServiceEffect(Network, node(0)), Effect.orDie)
    const callers: Array<NetworkService> = []
    for (let i = 1; i <= callerCount; i++) callers.push(yield* node(i))
    for (const caller of callers) yield* Effect.orDie(caller.dial(server.localPeerId, server.listenAddress))
    return { server, callers }
  })

/** How a call ended: OK, the status the server answered with, or the client-side error. */
export interface Outcome {
  readonly code: "OK" | StatusCodeName | Exclude<CallError["_tag"], "RpcRejected">
  readonly detail: string
}

const outcomeOfError = (error: CallError): Outcome =>
  error._tag === "RpcRejected" ? { code: error.code, detail: error.detail } : { code: error._tag, detail: error.message }

/** The outcome of a unary call. */
export const outcome = <A>(call: Effect.Effect<A, CallError>): Effect.Effect<Outcome> =>
  Effect.match(call, { onSuccess: (): Outcome => ({ code: "OK", detail: "" }), onFailure: outcomeOfError })

/** What a stream delivered before it ended, and how it ended. */
export const streamOutcome = <A>(stream: Stream.Stream<A, CallError>): Effect.Effect<{ readonly messages: ReadonlyArray<A>; readonly end: Outcome }> =>
  Effect.map(Stream.runCollect(Stream.either(stream)), (chunk) => {
    const items = Chunk.toReadonlyArray(chunk)
    const messages = items.flatMap((item) => (Either.isRight(item) ? [item.right] : []))
    const failure = items.find(Either.isLeft)
    return { messages, end: failure === undefined ? { code: "OK", detail: "" } : outcomeOfError(failure.left) }
  })

/** Calls made to the stub handlers, by method name. */
export type CallCounts = Ref.Ref<ReadonlyMap<string, number>>

const counted = <A>(counts: CallCounts, method: string, answer: A) =>
  Effect.as(Ref.update(counts, (m) => new Map(m).set(method, (m.get(method) ?? 0) + 1)), answer)

/** Total calls the stubs served. */
export const totalCalls = (counts: CallCounts) => Effect.map(Ref.get(counts), (m) => [...m.values()].reduce((a, b) => a + b, 0))

/** Registers stub handlers of the six routes that answer at once with empty answers and count their calls. */
export const registerStubs = (server: NetworkService): Effect.Effect<CallCounts, never, Scope.Scope> =>
  Effect.gen(function* () {
    const counts: CallCounts = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
    yield* server.handleUnary(P2pMethods.GetKnownPeers, () => counted(counts, "GetKnownPeers", { ownInfo: new Uint8Array(0), knownPeers: [] }))
    yield* server.handleUnary(P2pMethods.GetCommitAvailability, () =>
      counted(counts, "GetCommitAvailability", { highestSyncedCommit: 0, lowestAvailableCommit: 1, epoch: 0 })
    )
    yield* server.handleUnary(P2pMethods.GetCommitInfo, () => counted(counts, "GetCommitInfo", {}))
    yield* server.handleUnary(P2pMethods.PushCommit, () => counted(counts, "PushCommit", {}))
    yield* server.handleUnary(P2pMethods.FetchCommits, () => counted(counts, "FetchCommits", { commits: [], certifierRefs: [] }))
    // One block per ref asked for, at most one: within the stream's budget.
    yield* server.handleServerStream(P2pMethods.FetchBlocks, (request) =>
      Stream.fromEffect(counted(counts, "FetchBlocks", { blocks: request.blockRefs.slice(0, 1) } satisfies pb.FetchBlocksResponse))
    )
    return counts
  })

/** The FetchCommits route with a client that sends raw bytes (garbage requests). */
export const FetchCommitsRaw = unaryMethod(P2P_SERVICE, "FetchCommits", rawCodec, protoCodec(pb.FetchCommitsResponse))

/** `n` byte strings of `length` bytes (filled with `fill`). */
export const byteStrings = (n: number, length: number, fill = 7): Array<Uint8Array> => Array.from({ length: n }, () => new Uint8Array(length).fill(fill))

/** Runs `effect` with every log line (message and level) also appended to `lines`. */
export const capturingLogs = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel.label} ${Array.isArray(message) ? message.map(String).join(" ") : String(message)}`)
    })
  )
