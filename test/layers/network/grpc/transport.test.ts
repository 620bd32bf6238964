/**
 * The gRPC transport under attack, with real sockets, real grpc-js and (where the feature is about
 * TLS) real TLS: the receive cap and gzip bombs, connection floods per address and in total, which
 * connection gives way, the TLS handshake deadline, and the HTTP/2 stream limit per connection.
 */
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mintCallerToken, TOKEN_BYTES } from "../../../../src/layers/network/grpc/callerToken.js"
import { MAX_LIVE_TOKENS_PER_CONNECTION } from "../../../../src/layers/network/grpc/callerTokenVerifier.js"
import { ed25519PrivateKey } from "../../../../src/layers/network/grpc/certificate.js"
import { makeGrpcNetwork } from "../../../../src/layers/network/grpc/GrpcNetworkLayer.js"
import { MAX_CONCURRENT_STREAMS_PER_CONNECTION, type InboundTransportLimits } from "../../../../src/layers/network/grpc/server.js"
import { MAX_REQUEST_BYTES } from "../../../../src/layers/network/limits.js"
import { StatusCode, type NetworkService } from "../../../../src/services/Network.js"
import { Echo, Sink, testKeypair, testPeerId } from "../fixtures.js"
import { eventually, grpcFrame, h2Session, h2Unary, rawSocket, type RawSocket } from "./rawClients.js"

const HONEST = 3

/** A node (key 0) serving Echo, and Sink with a count of the requests that reached its handler. */
const serverNode = (options: { readonly plaintext: boolean; readonly limits?: Partial<InboundTransportLimits> }) =>
  Effect.gen(function* () {
    const node = yield* makeGrpcNetwork({
      keypair: testKeypair(0),
      listenAddress: "127.0.0.1:0",
      plaintext: options.plaintext,
      ...(options.limits === undefined ? {} : { inboundLimits: options.limits })
    }).pipe(Effect.orDie)
    const reached = { sink: 0 }
    yield* node.handleUnary(Echo, (request, context) => Effect.succeed({ caller: context.peerId, text: request.text }))
    yield* node.handleUnary(Sink, (request) => Effect.sync(() => ((reached.sink += 1), { received: request.length })))
    return { node, reached }
  })

/** Headers that authenticate key `index` to `node` in plaintext mode (TLS uses the certificate). */
const tokenHeaders = (node: NetworkService, index: number) => {
  const keypair = testKeypair(index)
  const token = mintCallerToken({ privateKey: ed25519PrivateKey(keypair.seed), publicKey: keypair.publicKey }, node.localPeerId, Date.now())
  return { "soma-caller-token-bin": token.toString("base64") }
}

/** An honest caller (key `HONEST`) from `localAddress`: one Echo call, returning who the server saw. */
const honestSession = (node: NetworkService, plaintext: boolean, localAddress: string) =>
  Effect.gen(function* () {
    const session = yield* h2Session(node.listenAddress, plaintext ? { localAddress } : { localAddress, tlsCertificateIndex: HONEST })
    const headers = plaintext ? tokenHeaders(node, HONEST) : {}
    const echo = (text: string) =>
      Effect.map(h2Unary(session, Echo.path, grpcFrame(Echo.request.encode({ text })), headers), (result) => ({
        status: result.status,
        caller: result.body === undefined ? undefined : (JSON.parse(result.body.toString()) as { caller: string }).caller
      }))
    return { session, echo }
  })

/** `count` bare TCP connections from `localAddress`, opened one after the other. */
const flood = (node: NetworkService, count: number, localAddress = "127.0.0.1") =>
  Effect.forEach(Array.from({ length: count }), () => rawSocket(node.listenAddress, localAddress))

const openOnes = (sockets: ReadonlyArray<RawSocket>) => sockets.map((socket) => !socket.isClosed())

describe("gRPC transport: receive limit", () => {
  it.scopedLive("a gzip request that inflates past the cap is refused RESOURCE_EXHAUSTED before its handler; so is a plain one past it", () =>
    Effect.gen(function* () {
      const { node, reached } = yield* serverNode({ plaintext: true })
      const session = yield* h2Session(node.listenAddress)
      const headers = tokenHeaders(node, HONEST)
      const gzip = { ...headers, "grpc-encoding": "gzip" }

      // The largest valid request (FetchBlocks with 1,000 refs ≈ 52 KB) fits.
      const fits = yield* h2Unary(session, Sink.path, grpcFrame(new Uint8Array(52_000)), headers)
      expect(fits.status).toBe(StatusCode.OK)
      expect(reached.sink).toBe(1)

      // 4 MiB of zeros gzip to ~4 KB: the bomb of the report. It is refused while inflating.
      const bomb = gzipSync(new Uint8Array(4 * 1024 * 1024))
      expect(bomb.length).toBeLessThan(8 * 1024)
      const refused = yield* h2Unary(session, Sink.path, grpcFrame(bomb, true), gzip)
      expect(refused.status).toBe(StatusCode.RESOURCE_EXHAUSTED)
      expect(refused.message).toContain("decompresses")
      expect(reached.sink).toBe(1)

      // Uncompressed, one byte past the cap: refused on the declared length, before it is buffered.
      const tooBig = yield* h2Unary(session, Sink.path, grpcFrame(new Uint8Array(MAX_REQUEST_BYTES + 1)), headers)
      expect(tooBig.status).toBe(StatusCode.RESOURCE_EXHAUSTED)
      expect(reached.sink).toBe(1)

      // A compressed request within the cap is served (we never send one, generic tools may).
      const small = yield* h2Unary(session, Sink.path, grpcFrame(gzipSync(new Uint8Array(1_000)), true), gzip)
      expect(small.status).toBe(StatusCode.OK)
      expect(reached.sink).toBe(2)
    })
  )

  it.scopedLive("our client refuses to send a request past the cap (RequestTooLarge), so it never meets the server's refusal", () =>
    Effect.gen(function* () {
      const { node } = yield* serverNode({ plaintext: false })
      const client = yield* makeGrpcNetwork({ keypair: testKeypair(HONEST), listenAddress: "127.0.0.1:0" })
      yield* client.dial(node.localPeerId, node.listenAddress)
      const timeout = { timeout: "5 seconds" } as const
      expect(yield* client.call(node.localPeerId, Sink, new Uint8Array(MAX_REQUEST_BYTES), timeout)).toEqual({ received: MAX_REQUEST_BYTES })
      const error = yield* Effect.flip(client.call(node.localPeerId, Sink, new Uint8Array(MAX_REQUEST_BYTES + 1), timeout))
      expect(error).toMatchObject({ _tag: "RequestTooLarge", limit: MAX_REQUEST_BYTES })
    })
  )
})

describe("gRPC transport: inbound connection caps", () => {
  for (const plaintext of [false, true]) {
    const mode = plaintext ? "plaintext" : "TLS"

    it.scopedLive(`${mode}: a flood from one address keeps only the per-address cap (newest); another address is still answered`, () =>
      Effect.gen(function* () {
        const { node } = yield* serverNode({ plaintext, limits: { maxConnectionsPerAddress: 4, maxConnections: 64 } })
        const sockets = yield* flood(node, 10)
        yield* eventually(() => sockets.filter((socket) => socket.isClosed()).length === 6)
        expect(openOnes(sockets)).toEqual([false, false, false, false, false, false, true, true, true, true])
        const honest = yield* honestSession(node, plaintext, "127.0.0.2")
        expect(yield* honest.echo("still here")).toEqual({ status: StatusCode.OK, caller: testPeerId(HONEST) })
      })
    )

    it.scopedLive(`${mode}: a flood from many connections keeps only the total cap; a newcomer from another address is answered`, () =>
      Effect.gen(function* () {
        const { node } = yield* serverNode({ plaintext, limits: { maxConnectionsPerAddress: 64, maxConnections: 4 } })
        const sockets = yield* flood(node, 10)
        yield* eventually(() => sockets.filter((socket) => socket.isClosed()).length === 6)
        expect(openOnes(sockets)).toEqual([false, false, false, false, false, false, true, true, true, true])
        const honest = yield* honestSession(node, plaintext, "127.0.0.2")
        expect(yield* honest.echo("still here")).toEqual({ status: StatusCode.OK, caller: testPeerId(HONEST) })
        // It made room by closing the oldest idle unauthenticated connection.
        expect(openOnes(sockets)).toEqual([false, false, false, false, false, false, false, true, true, true])
      })
    )
  }

  it.scopedLive("TLS: a node dialling into a server full of idle flood connections gets in and is answered", () =>
    Effect.gen(function* () {
      const { node } = yield* serverNode({ plaintext: false, limits: { maxConnectionsPerAddress: 64, maxConnections: 4 } })
      const sockets = yield* flood(node, 4)
      const client = yield* makeGrpcNetwork({ keypair: testKeypair(HONEST), listenAddress: "127.0.0.1:0" })
      yield* client.dial(node.localPeerId, node.listenAddress)
      const answer = yield* client.call(node.localPeerId, Echo, { text: "in" }, { timeout: "5 seconds" })
      expect(answer).toEqual({ caller: testPeerId(HONEST), text: "in" })
      expect(openOnes(sockets)).toEqual([false, true, true, true])
    })
  )

  it.scopedLive("TLS: the oldest idle unauthenticated connection gives way; an authenticated one never does", () =>
    Effect.gen(function* () {
      const { node } = yield* serverNode({ plaintext: false, limits: { maxConnectionsPerAddress: 3, maxConnections: 64 } })
      const [first] = yield* flood(node, 1)
      const honest = yield* honestSession(node, false, "127.0.0.1")
      expect((yield* honest.echo("authenticated")).status).toBe(StatusCode.OK)
      const [second] = yield* flood(node, 1)
      // Full (first, honest, second). Each newcomer closes the oldest idle unauthenticated one.
      const [third] = yield* flood(node, 1)
      yield* eventually(() => first!.isClosed())
      expect(second!.isClosed()).toBe(false)
      expect((yield* honest.echo("again")).status).toBe(StatusCode.OK)
      yield* flood(node, 1)
      yield* eventually(() => second!.isClosed())
      expect(third!.isClosed()).toBe(false)
      expect((yield* honest.echo("and again")).status).toBe(StatusCode.OK)
      expect(honest.session.closed).toBe(false)
    })
  )

  it.scopedLive("TLS: a connection that does not finish its handshake in time is closed", () =>
    Effect.gen(function* () {
      const { node } = yield* serverNode({ plaintext: false, limits: { tlsHandshakeTimeoutMs: 300 } })
      const silent = yield* rawSocket(node.listenAddress)
      const started = Date.now()
      yield* eventually(() => silent.isClosed(), "3 seconds")
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      const honest = yield* honestSession(node, false, "127.0.0.1")
      expect((yield* honest.echo("after")).status).toBe(StatusCode.OK)
    })
  )
})

describe("gRPC transport: caller tokens (plaintext)", () => {
  it.scopedLive("a token from a small-order key is UNAUTHENTICATED; 10,000 tokens on one connection lock no other caller out", () =>
    Effect.gen(function* () {
      const { node } = yield* serverNode({ plaintext: true })
      const attacker = yield* h2Session(node.listenAddress)
      const request = grpcFrame(Echo.request.encode({ text: "x" }))

      // A = R = identity, S = 0: verifies under OpenSSL for any message, with no private key.
      const forged = Buffer.alloc(TOKEN_BYTES)
      forged.writeUInt8(1, 0)
      forged.writeUInt8(1, 1)
      forged.write(node.localPeerId, 33, "hex")
      forged.writeBigUInt64BE(BigInt(Date.now()), 65)
      forged.writeUInt8(1, TOKEN_BYTES - 64)
      const refused = yield* h2Unary(attacker, Echo.path, request, { "soma-caller-token-bin": forged.toString("base64") })
      expect(refused.status).toBe(StatusCode.UNAUTHENTICATED)

      const keypair = testKeypair(7)
      const signer = { privateKey: ed25519PrivateKey(keypair.seed), publicKey: keypair.publicKey }
      const statuses = yield* Effect.forEach(
        Array.from({ length: 10_000 }),
        () =>
          Effect.map(
            h2Unary(attacker, Echo.path, request, { "soma-caller-token-bin": mintCallerToken(signer, node.localPeerId, Date.now()).toString("base64") }),
            (result) => result.status
          ),
        { concurrency: 64 }
      )
      expect(statuses.filter((status) => status === StatusCode.OK).length).toBe(MAX_LIVE_TOKENS_PER_CONNECTION)
      expect(statuses.filter((status) => status === StatusCode.RESOURCE_EXHAUSTED).length).toBe(10_000 - MAX_LIVE_TOKENS_PER_CONNECTION)

      // Another caller, even from the same address, is answered.
      const honest = yield* honestSession(node, true, "127.0.0.1")
      expect(yield* honest.echo("not locked out")).toEqual({ status: StatusCode.OK, caller: testPeerId(HONEST) })
    })
  )
})

// --- HTTP/2 by hand: a client that ignores the server's stream limit ---

const FRAME_HEADERS = 0x1
const FRAME_SETTINGS = 0x4
const FRAME_GOAWAY = 0x7
const FLAG_ACK = 0x1
const FLAG_END_HEADERS = 0x4
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3

const frame = (type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)) => {
  const header = Buffer.alloc(9)
  header.writeUIntBE(payload.length, 0, 3)
  header.writeUInt8(type, 3)
  header.writeUInt8(flags, 4)
  header.writeUInt32BE(streamId, 5)
  return Buffer.concat([header, payload])
}

/** HPACK, literal without indexing and no Huffman coding (all values here are < 127 bytes). */
const literal = (name: string, value: string) =>
  Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)])

describe("gRPC transport: HTTP/2 streams per connection", () => {
  it.scopedLive(`a client that ignores the advertised limit of ${MAX_CONCURRENT_STREAMS_PER_CONNECTION} streams loses its connection at the next one`, () =>
    Effect.gen(function* () {
      const { node } = yield* serverNode({ plaintext: true })
      const { socket, received, isClosed } = yield* rawSocket(node.listenAddress)
      /** The server's frames so far: type, stream, and the first two payload words. */
      const frames = () => {
        const seen: Array<{ readonly type: number; readonly streamId: number; readonly words: readonly [number, number] }> = []
        let rest = received()
        while (rest.length >= 9 && rest.length >= 9 + rest.readUIntBE(0, 3)) {
          const length = rest.readUIntBE(0, 3)
          const word = (at: number) => (length >= at + 4 ? rest.readUInt32BE(9 + at) : -1)
          seen.push({ type: rest.readUInt8(3), streamId: rest.readUInt32BE(5) & 0x7fffffff, words: [word(0), word(4)] })
          rest = rest.subarray(9 + length)
        }
        return seen
      }
      socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(FRAME_SETTINGS, 0, 0)]))
      yield* eventually(() => frames().some((f) => f.type === FRAME_SETTINGS && f.words[0] >>> 16 === SETTINGS_MAX_CONCURRENT_STREAMS))
      // The server advertised the limit (identifier 3, then the 32-bit value).
      const advertised = received().readUInt32BE(9 + 2)
      expect(advertised).toBe(MAX_CONCURRENT_STREAMS_PER_CONNECTION)

      // A registered unary route and no request body: every stream stays open, waiting for it.
      const block = Buffer.concat([
        Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
        literal(":path", Echo.path),
        literal(":authority", "p2p"),
        literal("content-type", "application/grpc"),
        literal("te", "trailers")
      ])
      const open = (from: number, count: number) =>
        Buffer.concat(Array.from({ length: count }, (_, i) => frame(FRAME_HEADERS, FLAG_END_HEADERS, 2 * (from + i) + 1, block)))
      socket.write(Buffer.concat([frame(FRAME_SETTINGS, FLAG_ACK, 0), open(0, MAX_CONCURRENT_STREAMS_PER_CONNECTION)]))
      yield* Effect.sleep("300 millis")
      expect(frames().filter((f) => f.type !== FRAME_SETTINGS)).toEqual([]) // all up to the limit are accepted
      expect(isClosed()).toBe(false)

      // One more: nghttp2 treats exceeding an acknowledged limit as a connection error.
      socket.write(open(MAX_CONCURRENT_STREAMS_PER_CONNECTION, 1))
      yield* eventually(() => isClosed())
      const goaway = frames().find((f) => f.type === FRAME_GOAWAY)
      expect(goaway?.words[0]).toBe(2 * MAX_CONCURRENT_STREAMS_PER_CONNECTION - 1) // the last stream it took
    })
  )
})
