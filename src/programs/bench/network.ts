/**
 * Network benchmark: real gRPC on loopback, authentication on (mutual TLS), through the `Network`
 * service and the P2P method descriptors. The serving node runs in a worker thread — as on two
 * machines, each end does its own TLS and encoding on its own core — and the calling node here.
 * Measures unary calls per second with concurrency, and server-streaming throughput of 1 MiB
 * messages with TLS and in plaintext (which still signs caller tokens); each figure is the median of
 * 3 short runs after a warm-up.
 */
import { createHash, createPublicKey } from "node:crypto"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import { Clock, Deferred, Duration, Effect, Stream } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { makeGrpcNetwork } from "../../layers/network/grpc/GrpcNetworkLayer.js"
import { ed25519PrivateKey } from "../../layers/network/grpc/certificate.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type { Ed25519Keypair } from "../../services/Crypto.js"
import type { NetworkService } from "../../services/Network.js"

/** Runs per figure; the median is reported. */
const RUNS = 3
/** Length of one unary run: long enough to reach a steady rate, short enough for a 1-minute bench. */
const UNARY_RUN_MS = 2_000
/** Unary calls in flight at once (state sync keeps several ranges in flight per peer, over several peers). */
const UNARY_CONCURRENCY = 32
/** Size of one streamed message: a typical FetchBlocks chunk well under the 4 MiB limit. */
const STREAM_MESSAGE_BYTES = 1024 * 1024
/** Messages per streaming run (256 MiB): long enough to smooth out scheduling noise. */
const STREAM_MESSAGES = 256
/** Deadline of every bench call. */
const CALL_TIMEOUT = Duration.seconds(30)

/** The bench line. */
export interface NetworkBenchResult {
  readonly name: "network"
  readonly unaryCallsPerSec: number
  readonly streamMBPerSec: number
  readonly plaintextStreamMBPerSec: number
  /** Throughput lost to TLS and authentication: (plaintext − TLS) / plaintext, in percent. */
  readonly authOverheadPct: number
}

const keypair = (label: string): Ed25519Keypair => {
  const seed = createHash("sha256").update(`soma-p2p/bench/network/${label}`).digest()
  const spki = createPublicKey(ed25519PrivateKey(seed)).export({ format: "der", type: "spki" })
  return { seed: new Uint8Array(seed), publicKey: new Uint8Array(spki.subarray(spki.length - 32)) }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const round = (value: number, digits: number) => Number(value.toFixed(digits))

/** Marks the worker that serves (this same module, started as a worker thread). */
const SERVER_ROLE = "soma-p2p/bench/network/server"

interface ServerSpec {
  readonly role: typeof SERVER_ROLE
  readonly plaintext: boolean
}

interface ServerReady {
  readonly peerId: PeerId
  readonly address: string
}

const isServerSpec = (data: unknown): data is ServerSpec =>
  typeof data === "object" && data !== null && "role" in data && data.role === SERVER_ROLE

/** The serving node: answers GetCommitAvailability, and FetchBlocks with one 1 MiB block per ref. */
const serve = (plaintext: boolean) =>
  Effect.gen(function* () {
    const server = yield* makeGrpcNetwork({ keypair: keypair("server"), listenAddress: "127.0.0.1:0", plaintext, maxConcurrentCallsPerPeer: 256 })
    const block = new Uint8Array(STREAM_MESSAGE_BYTES).fill(7)
    yield* server.handleUnary(P2pMethods.GetCommitAvailability, () =>
      Effect.succeed({ highestSyncedCommit: 1_000, lowestAvailableCommit: 1, epoch: 3 })
    )
    yield* server.handleServerStream(P2pMethods.FetchBlocks, (request) =>
      Stream.range(1, request.blockRefs.length).pipe(Stream.map(() => ({ blocks: [block] })))
    )
    return { peerId: server.localPeerId, address: server.listenAddress } satisfies ServerReady
  })

/**
 * The worker's entry script: imports this module. Run from TypeScript (tsx), it first registers tsx's
 * loader, which workers do not inherit.
 */
const workerEntry = (): string => {
  const self = JSON.stringify(import.meta.url)
  return import.meta.url.endsWith(".ts")
    ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${self}) })`
    : `import(${self})`
}

/** Starts the serving node in a worker thread until the scope closes. */
const serverInWorker = (plaintext: boolean) =>
  Effect.gen(function* () {
    const ready = yield* Deferred.make<ServerReady, Error>()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new Worker(workerEntry(), { eval: true, workerData: { role: SERVER_ROLE, plaintext } satisfies ServerSpec })
        worker.once("message", (message: ServerReady) => Deferred.unsafeDone(ready, Effect.succeed(message)))
        worker.once("error", (error) => Deferred.unsafeDone(ready, Effect.fail(error)))
        return worker
      }),
      (worker) => Effect.promise(() => worker.terminate())
    )
    return yield* Deferred.await(ready)
  })

/** A serving node in a worker and a client node here, connected. */
const pair = (plaintext: boolean) =>
  Effect.gen(function* () {
    const ready = yield* serverInWorker(plaintext)
    const client = yield* makeGrpcNetwork({ keypair: keypair("client"), listenAddress: "127.0.0.1:0", plaintext })
    yield* client.dial(ready.peerId, ready.address)
    return { client, server: ready.peerId }
  })

const unaryRate = (client: NetworkService, server: PeerId) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const end = start + UNARY_RUN_MS
    let calls = 0
    const worker = Effect.gen(function* () {
      while ((yield* Clock.currentTimeMillis) < end) {
        yield* client.call(server, P2pMethods.GetCommitAvailability, {}, { timeout: CALL_TIMEOUT })
        calls += 1
      }
    })
    yield* Effect.all(Array.from({ length: UNARY_CONCURRENCY }, () => worker), { concurrency: "unbounded", discard: true })
    return (calls * 1000) / ((yield* Clock.currentTimeMillis) - start)
  })

const streamRate = (client: NetworkService, server: PeerId) =>
  Effect.gen(function* () {
    // The request names as many (dummy) refs as messages wanted; the handler sends one block per ref.
    const request = { blockRefs: Array.from({ length: STREAM_MESSAGES }, () => new Uint8Array(48)) }
    const start = yield* Clock.currentTimeMillis
    let bytes = 0
    yield* Stream.runForEach(client.callStream(server, P2pMethods.FetchBlocks, request, { timeout: CALL_TIMEOUT }), (message) =>
      Effect.sync(() => {
        for (const block of message.blocks) bytes += block.length
      })
    )
    const seconds = ((yield* Clock.currentTimeMillis) - start) / 1000
    return bytes / (1024 * 1024) / seconds
  })

const repeat = <E>(measure: Effect.Effect<number, E>) =>
  Effect.gen(function* () {
    yield* measure // warm-up: JIT, TCP windows
    const results: Array<number> = []
    for (let run = 0; run < RUNS; run++) results.push(yield* measure)
    return median(results)
  })

const bench = Effect.gen(function* () {
  const tls = yield* Effect.scoped(
    Effect.gen(function* () {
      const { server, client } = yield* pair(false)
      const unaryCallsPerSec = yield* repeat(unaryRate(client, server))
      const streamMBPerSec = yield* repeat(streamRate(client, server))
      return { unaryCallsPerSec, streamMBPerSec }
    })
  )
  const plaintextStreamMBPerSec = yield* Effect.scoped(
    Effect.gen(function* () {
      const { server, client } = yield* pair(true)
      return yield* repeat(streamRate(client, server))
    })
  )
  return {
    name: "network",
    unaryCallsPerSec: Math.round(tls.unaryCallsPerSec),
    streamMBPerSec: round(tls.streamMBPerSec, 1),
    plaintextStreamMBPerSec: round(plaintextStreamMBPerSec, 1),
    authOverheadPct: round(Math.max(0, ((plaintextStreamMBPerSec - tls.streamMBPerSec) / plaintextStreamMBPerSec) * 100), 1)
  } satisfies NetworkBenchResult
})

/** Runs the network benchmark (about 20 s). */
export const runNetworkBench = (): Promise<NetworkBenchResult> => Effect.runPromise(bench)

// Started as the bench's server worker: serve until terminated.
if (!isMainThread && isServerSpec(workerData)) {
  const spec = workerData
  Effect.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const ready = yield* serve(spec.plaintext)
        parentPort?.postMessage(ready)
        return yield* Effect.never
      })
    )
  )
}
