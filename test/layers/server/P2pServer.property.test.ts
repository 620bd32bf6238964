/**
 * Property: random requests, hostile ones included (huge counts, wrong lengths, boundary integers,
 * random bytes as refs, garbage protobuf), against the real state-sync handlers over an in-memory
 * store, registered through a `Network` decorated by the P2P server. No handler ever throws (no
 * INTERNAL), every call ends before its deadline, and each ends with the status the rules give it.
 */
import { MAX_REQUEST_BYTES } from "../../../src/layers/network/limits.js"
import { expect, layer } from "@effect/vitest"
import { Effect, Runtime, type Scope } from "effect"
import * as fc from "fast-check"
import { encodeBcs } from "../../../src/domain/codec.js"
import { BlockRefBcs, CommitRefBcs } from "../../../src/domain/refs.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { makeP2pServer } from "../../../src/layers/server/P2pServerLayer.js"
import { FETCH_BLOCKS_REQUEST_BYTES, MAX_STREAM_MESSAGE_BYTES, U32_MAX } from "../../../src/layers/server/constants.js"
import { makeMemoryStore } from "../../../src/layers/store/MemoryStoreLayer.js"
import { makeStateSync } from "../../../src/layers/sync/SyncLayer.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { PeerManager } from "../../../src/services/PeerManager.js"
import { fetchBlocksResponseCodec, P2P_SERVICE, P2pMethods } from "../../../src/proto/P2pMethods.js"
import { Network, serverStreamMethod, type NetworkService } from "../../../src/services/Network.js"
import { Store } from "../../../src/services/Store.js"
import { Verifier } from "../../../src/services/Verifier.js"
import { rawCodec } from "../network/fixtures.js"
import { genesisOf, SimVerifierLayer, simPeerId } from "../sync/syncSim.js"
import { FetchCommitsRaw, outcome, settled, streamOutcome, type Outcome } from "./fixtures.js"

const HEIGHT = 25
// Epochs of 10 commits, so ranges can cross epoch boundaries.
const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 31, validators: 4, commitsPerEpoch: 10, transactionsPerBlock: 0 }).take(HEIGHT)
const REAL_BLOCK_REFS = CHAIN.flatMap((c) => c.subDag.blocks.map((b) => encodeBcs(BlockRefBcs, b.ref)))
const REAL_COMMIT_REFS = CHAIN.map((c) => encodeBcs(CommitRefBcs, c.subDag.commitRef))
const HANDLER_TIMEOUT_MS = 5_000
const OPTIONS = { timeout: "10 seconds" } as const
const FetchBlocksRaw = serverStreamMethod(P2P_SERVICE, "FetchBlocks", rawCodec, fetchBlocksResponseCodec)

// --- requests --------------------------------------------------------------------------------------

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 2, HEIGHT - 1, HEIGHT, HEIGHT + 1, 100, 101, 2 ** 31 - 1, 2 ** 31, U32_MAX - 1, U32_MAX),
  fc.integer({ min: 0, max: HEIGHT + 5 }),
  fc.integer({ min: 0, max: U32_MAX })
)
const flipped = (bytes: Uint8Array, at: number) => {
  const copy = bytes.slice()
  copy[at % copy.length] = (copy[at % copy.length] ?? 0) ^ 0xff
  return copy
}
const blockRef = fc.oneof(
  fc.constantFrom(...REAL_BLOCK_REFS),
  fc.tuple(fc.constantFrom(...REAL_BLOCK_REFS), fc.nat()).map(([ref, at]) => flipped(ref, at)),
  fc.uint8Array({ minLength: 48, maxLength: 48 }),
  fc.uint8Array({ maxLength: 60 })
)
const blockRefs = fc.oneof(
  fc.array(blockRef, { maxLength: 24 }),
  fc.array(fc.constantFrom(...REAL_BLOCK_REFS), { maxLength: 120 }),
  // Huge counts around the limit, of one element (the count must be refused before the content).
  fc.tuple(fc.integer({ min: 990, max: 1_600 }), blockRef).map(([n, ref]) => Array.from({ length: n }, () => ref))
)
const commitRef = fc.oneof(
  fc.constantFrom(...REAL_COMMIT_REFS),
  fc.uint8Array({ minLength: 36, maxLength: 36 }),
  fc.uint8Array({ maxLength: 50 })
)

type Request =
  | { readonly kind: "FetchCommits"; readonly start: number; readonly end: number }
  | { readonly kind: "FetchBlocks"; readonly refs: ReadonlyArray<Uint8Array> }
  | { readonly kind: "PushCommit"; readonly commitRef: Uint8Array }
  | { readonly kind: "GetCommitInfo"; readonly query: { $case: "latest"; value: object } | { $case: "index"; value: number } | undefined }
  | { readonly kind: "GetCommitAvailability" }
  | { readonly kind: "RawFetchCommits" | "RawFetchBlocks"; readonly bytes: Uint8Array }

const request: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ kind: fc.constant("FetchCommits" as const), start: u32, end: u32 }),
  fc.record({ kind: fc.constant("FetchCommits" as const), start: fc.integer({ min: 1, max: HEIGHT + 2 }), end: fc.integer({ min: 1, max: HEIGHT + 200 }) }),
  fc.record({ kind: fc.constant("FetchBlocks" as const), refs: blockRefs }),
  fc.record({ kind: fc.constant("PushCommit" as const), commitRef }),
  fc.record({
    kind: fc.constant("GetCommitInfo" as const),
    query: fc.oneof(
      fc.constant(undefined),
      fc.constant({ $case: "latest" as const, value: {} }),
      u32.map((value) => ({ $case: "index" as const, value }))
    )
  }),
  fc.record({ kind: fc.constant("GetCommitAvailability" as const) }),
  fc.record({ kind: fc.constantFrom("RawFetchCommits" as const, "RawFetchBlocks" as const), bytes: fc.uint8Array({ maxLength: 120 }) })
)

// --- the rules -------------------------------------------------------------------------------------

/** Encoded size of a FetchBlocks request of `refs` (each behind a tag and its length). */
const encodedSize = (refs: ReadonlyArray<Uint8Array>): number => refs.reduce((n, ref) => n + 2 + ref.length, 0)

/** The statuses a request may end with, and what a refusal by the server's rules must say. */
const allowed = (r: Request): { readonly codes: ReadonlyArray<Outcome["code"]>; readonly detail?: RegExp } => {
  switch (r.kind) {
    case "FetchCommits":
      return r.start >= 1 && r.end >= r.start ? { codes: ["OK"] } : { codes: ["INVALID_ARGUMENT"], detail: r.start < 1 ? /^FetchCommits\.start: / : /^FetchCommits\.end: / }
    case "FetchBlocks":
      // The transport's request cap first (our client does not even send it), then the route's receive
      // limit (on the encoded size), then the count, all before decoding.
      if (encodedSize(r.refs) > MAX_REQUEST_BYTES) return { codes: ["RequestTooLarge"] }
      if (encodedSize(r.refs) > FETCH_BLOCKS_REQUEST_BYTES)
        return { codes: ["RESOURCE_EXHAUSTED"], detail: new RegExp(`^FetchBlocks: request of \\d+ bytes, at most ${FETCH_BLOCKS_REQUEST_BYTES}`) }
      if (r.refs.length > 1_000) return { codes: ["RESOURCE_EXHAUSTED"], detail: /^FetchBlocks\.blockRefs: at most 1000 refs/ }
      if (r.refs.some((ref) => ref.length !== 48)) return { codes: ["INVALID_ARGUMENT"], detail: /^FetchBlocks\.blockRefs\[\d+\]: must be exactly 48 bytes/ }
      // 48 random bytes may not decode as a BlockRef (an epoch above 2^53): the sync handler refuses it.
      return { codes: r.refs.every((ref) => REAL_BLOCK_REFS.includes(ref)) ? ["OK"] : ["OK", "INVALID_ARGUMENT"] }
    case "PushCommit":
      return r.commitRef.length === 36 ? { codes: ["OK"] } : { codes: ["INVALID_ARGUMENT"], detail: /^PushCommit\.commitRef: must be exactly 36 bytes/ }
    case "GetCommitInfo":
      return r.query === undefined ? { codes: ["INVALID_ARGUMENT"], detail: /^GetCommitInfo\.query: / } : { codes: ["OK"] }
    case "GetCommitAvailability":
      return { codes: ["OK"] }
    case "RawFetchCommits":
    case "RawFetchBlocks":
      return r.bytes.length > MAX_REQUEST_BYTES ? { codes: ["RequestTooLarge"] } : { codes: ["OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"] }
  }
}

/** Sends `r` and checks its answer against the response limits; gives how it ended. */
const send = (client: NetworkService, server: NetworkService, r: Request): Effect.Effect<Outcome> => {
  const to = server.localPeerId
  switch (r.kind) {
    case "FetchCommits":
      return outcome(
        Effect.tap(client.call(to, P2pMethods.FetchCommits, { start: r.start, end: r.end }, OPTIONS), (answer) => {
          expect(answer.commits.length).toBeLessThanOrEqual(100)
          if (r.start <= HEIGHT && r.start >= 1 && r.end >= r.start) expect(answer.commits.length).toBeGreaterThan(0)
        })
      )
    case "FetchBlocks":
      return Effect.map(streamOutcome(client.callStream(to, P2pMethods.FetchBlocks, { blockRefs: [...r.refs] }, OPTIONS)), ({ messages, end }) => {
        for (const m of messages) expect(fetchBlocksResponseCodec.encode(m).length).toBeLessThanOrEqual(MAX_STREAM_MESSAGE_BYTES)
        expect(messages.reduce((n, m) => n + m.blocks.length, 0)).toBeLessThanOrEqual(r.refs.length)
        return end
      })
    case "PushCommit":
      return outcome(client.call(to, P2pMethods.PushCommit, { commitRef: r.commitRef }, OPTIONS))
    case "GetCommitInfo":
      return outcome(
        Effect.tap(client.call(to, P2pMethods.GetCommitInfo, { query: r.query }, OPTIONS), (answer) => {
          const index = r.query?.$case === "index" ? r.query.value : HEIGHT
          expect(answer.commitRef !== undefined).toBe(index >= 1 && index <= HEIGHT)
        })
      )
    case "GetCommitAvailability":
      return outcome(
        Effect.tap(client.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS), (answer) => expect(answer.highestSyncedCommit).toBe(HEIGHT))
      )
    case "RawFetchCommits":
      return outcome(client.call(to, FetchCommitsRaw, r.bytes, OPTIONS))
    case "RawFetchBlocks":
      return Effect.map(streamOutcome(client.callStream(to, FetchBlocksRaw, r.bytes, OPTIONS)), ({ end }) => end)
  }
}

// --- the world -------------------------------------------------------------------------------------

/** A server node running real state sync over a store holding the chain, and a client dialled to it. */
const buildWorld = Effect.gen(function* () {
  const world = yield* makeSimNetwork({ seed: 3 })
  const verifier = yield* Verifier
  return yield* Effect.provideService(
    Effect.gen(function* () {
      const inner = yield* makeSimNode({ peerId: simPeerId(0) })
      // Rate limit out of the way: this property is about the rules and the handlers.
      const server = yield* makeP2pServer({ ratePerSecond: 1e9, burst: 1_000_000_000, handlerTimeoutMs: HANDLER_TIMEOUT_MS }).pipe(
        Effect.provideService(Network, inner),
        Effect.orDie
      )
      const store = yield* makeMemoryStore
      const sync = yield* makeStateSync({ start: genesisOf(CHAIN) }).pipe(
        Effect.provideService(PeerManager, yield* makePeerManager({ localPeerId: simPeerId(0) })),
        Effect.provideService(Network, server),
        Effect.provideService(Store, store),
        Effect.provideService(Verifier, verifier)
      )
      for (const c of CHAIN) yield* Effect.orDie(sync.sendCommit(c.subDag, c.certifierBlocks))
      const client = yield* makeSimNode({ peerId: simPeerId(1) })
      yield* Effect.orDie(client.dial(server.localPeerId, server.listenAddress))
      return { server, client }
    }),
    SimNetwork,
    world
  )
})

layer(SimVerifierLayer)("P2P server property", (it) => {
  it.scoped(
    "random and hostile requests against the real sync handlers: never INTERNAL, never past the deadline, the status the rules give",
    () =>
      Effect.gen(function* () {
        const { server, client } = yield* settled(buildWorld)
        const runtime = yield* Effect.runtime<Verifier | Scope.Scope>()
        const seen = new Map<string, number>()
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 4 }), (requests) =>
              Runtime.runPromise(runtime)(
                settled(
                  Effect.forEach(
                    requests,
                    (r) =>
                      Effect.map(send(client, server, r), (end) => {
                        seen.set(`${r.kind} ${end.code}`, (seen.get(`${r.kind} ${end.code}`) ?? 0) + 1)
                        const rule = allowed(r)
                        expect(rule.codes, `${r.kind} ended ${end.code}: ${end.detail}`).toContain(end.code)
                        if (end.code !== "OK" && rule.detail !== undefined) expect(end.detail).toMatch(rule.detail)
                      }),
                    { concurrency: "unbounded", discard: true }
                  )
                )
              )
            ),
            { numRuns: 120 }
          )
        )
        // The generators reach every kind of ending they are meant to.
        for (const key of ["FetchCommits OK", "FetchCommits INVALID_ARGUMENT", "FetchBlocks OK", "FetchBlocks RESOURCE_EXHAUSTED", "FetchBlocks INVALID_ARGUMENT", "PushCommit OK", "PushCommit INVALID_ARGUMENT"]) {
          expect(seen.get(key) ?? 0, key).toBeGreaterThan(0)
        }
      }),
    120_000
  )
})
