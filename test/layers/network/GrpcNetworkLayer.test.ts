/**
 * gRPC-only behaviour on loopback: authentication of both ends, hostile callers (forged, replayed,
 * expired tokens; missing or public certificates), raw garbage from a generic gRPC client, and the
 * lifecycle of the server and channels.
 */
import * as grpc from "@grpc/grpc-js"
import { createHash, createPublicKey } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, ExecutionStrategy, Exit, Fiber, Scope, Stream } from "effect"
import { makeGrpcNetwork } from "../../../src/layers/network/grpc/GrpcNetworkLayer.js"
import { CALLER_TOKEN_METADATA_KEY, mintCallerToken, TOKEN_MAX_AGE_MS } from "../../../src/layers/network/grpc/callerToken.js"
import { CERTIFICATE_HOSTNAME, ed25519PrivateKey, nodeCertificate, WELL_KNOWN_CA_PEM } from "../../../src/layers/network/grpc/certificate.js"
import { MAX_REQUEST_BYTES } from "../../../src/layers/network/limits.js"
import { StatusCode, type NetworkService } from "../../../src/services/Network.js"
import { Count, Echo, Strict, testKeypair, testPeerId, Unknown } from "./fixtures.js"

const TIMEOUT = { timeout: Duration.seconds(5) }
const OUTSIDER = 9 // key index of a raw client
const FORGER = 8

const serve = (node: NetworkService) =>
  Effect.gen(function* () {
    yield* node.handleUnary(Echo, (request, context) => Effect.succeed({ caller: context.peerId, text: request.text }))
    yield* node.handleUnary(Strict, (request) => Effect.succeed({ commits: [new Uint8Array([request.start])], certifierRefs: [] }))
    yield* node.handleServerStream(Count, (request) => Stream.range(1, request.count).pipe(Stream.map(() => ({ blocks: [new Uint8Array(1)] }))))
  })

/** A serving node (index 0 keys) and its scope. */
const server = (plaintext: boolean, index = 0) =>
  Effect.gen(function* () {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const node = yield* Scope.extend(makeGrpcNetwork({ keypair: testKeypair(index), listenAddress: "127.0.0.1:0", plaintext }).pipe(Effect.orDie), scope)
    yield* serve(node)
    return { node, close: Scope.close(scope, Exit.void) }
  })

type RawCredentials = { readonly mode: "insecure" } | { readonly mode: "tls"; readonly key?: string; readonly cert?: string }

/** A generic grpc-js client with no size limit on what it sends. */
const rawClient = (address: string, credentials: RawCredentials) =>
  Effect.acquireRelease(
    Effect.sync(
      () =>
        new grpc.Client(
          address,
          credentials.mode === "insecure"
            ? grpc.credentials.createInsecure()
            : grpc.credentials.createSsl(
                Buffer.from(WELL_KNOWN_CA_PEM),
                credentials.key === undefined ? null : Buffer.from(credentials.key),
                credentials.cert === undefined ? null : Buffer.from(credentials.cert),
                { checkServerIdentity: () => undefined }
              ),
          { "grpc.max_send_message_length": -1, "grpc.ssl_target_name_override": CERTIFICATE_HOSTNAME, "grpc.use_local_subchannel_pool": 1 }
        )
    ),
    (client) => Effect.sync(() => client.close())
  )

interface RawResult {
  readonly code: number
  readonly details: string
  readonly value: Buffer | undefined
}

/** A unary call with raw bytes; resolves with the status whatever it is. */
const rawUnary = (client: grpc.Client, path: string, bytes: Uint8Array, metadata = new grpc.Metadata()) =>
  Effect.async<RawResult>((resume) => {
    const id = (b: Buffer) => b
    client.makeUnaryRequest(path, id, id, Buffer.from(bytes), metadata, { deadline: Date.now() + 5_000 }, (error, value) =>
      resume(Effect.succeed(error ? { code: error.code, details: error.details, value: undefined } : { code: StatusCode.OK, details: "", value }))
    )
  })

const tokenMetadata = (token: Uint8Array) => {
  const metadata = new grpc.Metadata()
  metadata.set(CALLER_TOKEN_METADATA_KEY, Buffer.from(token))
  return metadata
}

const signerOf = (index: number) => ({ privateKey: ed25519PrivateKey(testKeypair(index).seed), publicKey: testKeypair(index).publicKey })
const echoBytes = (text: string) => Echo.request.encode({ text })
const echoCaller = (result: RawResult) => (result.value === undefined ? undefined : JSON.parse(result.value.toString()).caller)

describe("GrpcNetworkLayer: authentication", () => {
  it.scopedLive("mutual TLS: the server sees the caller's real PeerId, from its certificate", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(false, 0)
      const b = yield* makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: "127.0.0.1:0" })
      yield* b.dial(a.localPeerId, a.listenAddress)
      expect(yield* b.call(a.localPeerId, Echo, { text: "hi" }, TIMEOUT)).toEqual({ caller: b.localPeerId, text: "hi" })
      // A generic client with a node certificate is identified by that certificate's key.
      const certificate = nodeCertificate(testKeypair(OUTSIDER))
      const raw = yield* rawClient(a.listenAddress, { mode: "tls", key: certificate.privateKeyPem, cert: certificate.certificatePem })
      const answer = yield* rawUnary(raw, Echo.path, echoBytes("raw"))
      expect(answer.code).toBe(StatusCode.OK)
      expect(echoCaller(answer)).toBe(testPeerId(OUTSIDER))
    })
  )

  it.scopedLive("TLS: a token claiming another PeerId is ignored; the certificate decides", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(false)
      const certificate = nodeCertificate(testKeypair(OUTSIDER))
      const raw = yield* rawClient(a.listenAddress, { mode: "tls", key: certificate.privateKeyPem, cert: certificate.certificatePem })
      const claim = mintCallerToken(signerOf(FORGER), a.localPeerId, Date.now())
      const answer = yield* rawUnary(raw, Echo.path, echoBytes("x"), tokenMetadata(claim))
      expect(echoCaller(answer)).toBe(testPeerId(OUTSIDER))
    })
  )

  it.scopedLive("TLS: a caller without a client certificate, or with the public CA's, is refused", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(false)
      const anonymous = yield* rawClient(a.listenAddress, { mode: "tls" })
      expect((yield* rawUnary(anonymous, Echo.path, echoBytes("x"))).code).toBe(StatusCode.UNAVAILABLE)
      // The CA's key is public, so anyone can present the CA certificate (refused by TLS: it is not a
      // client certificate) or mint a node certificate for the CA key (refused by us: no identity).
      const caSeed = createHash("sha256").update("soma-p2p/v1/well-known-tls-ca").digest()
      const caKey = ed25519PrivateKey(caSeed)
      const asCa = yield* rawClient(a.listenAddress, { mode: "tls", key: caKey.export({ format: "pem", type: "pkcs8" }).toString(), cert: WELL_KNOWN_CA_PEM })
      expect((yield* rawUnary(asCa, Echo.path, echoBytes("x"))).code).toBe(StatusCode.UNAVAILABLE)
      const caSpki = createPublicKey(caKey).export({ format: "der", type: "spki" })
      const caLeaf = nodeCertificate({ seed: new Uint8Array(caSeed), publicKey: new Uint8Array(caSpki.subarray(caSpki.length - 32)) })
      const asCaLeaf = yield* rawClient(a.listenAddress, { mode: "tls", key: caLeaf.privateKeyPem, cert: caLeaf.certificatePem })
      expect(yield* rawUnary(asCaLeaf, Echo.path, echoBytes("x"))).toMatchObject({ code: StatusCode.UNAUTHENTICATED })
    })
  )

  it.scopedLive("TLS: a client pinning the wrong PeerId is refused at connect time", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(false, 0)
      const b = yield* makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: "127.0.0.1:0" })
      const error = yield* Effect.flip(b.dial(testPeerId(2), a.listenAddress))
      expect(error).toMatchObject({ _tag: "PeerAuthenticationFailed", peerId: testPeerId(2) })
      expect(error.message).toContain(a.localPeerId)
      expect(yield* b.connectedPeers).toEqual([])
    })
  )

  it.scopedLive("plaintext: the caller is who signed the token; forged, expired, misdirected, replayed tokens get UNAUTHENTICATED", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(true)
      const first = yield* rawClient(a.listenAddress, { mode: "insecure" })
      const second = yield* rawClient(a.listenAddress, { mode: "insecure" })
      const now = Date.now()
      const unauthenticated = (metadata?: grpc.Metadata) =>
        Effect.map(rawUnary(first, Echo.path, echoBytes("x"), metadata), (result) => expect(result.code).toBe(StatusCode.UNAUTHENTICATED))

      yield* unauthenticated() // no token
      yield* unauthenticated(tokenMetadata(new Uint8Array(153).fill(1))) // garbage
      // Claims OUTSIDER's key but is signed by FORGER.
      yield* unauthenticated(tokenMetadata(mintCallerToken({ privateKey: signerOf(FORGER).privateKey, publicKey: signerOf(OUTSIDER).publicKey }, a.localPeerId, now)))
      yield* unauthenticated(tokenMetadata(mintCallerToken(signerOf(OUTSIDER), a.localPeerId, now - TOKEN_MAX_AGE_MS - 1_000))) // expired
      yield* unauthenticated(tokenMetadata(mintCallerToken(signerOf(OUTSIDER), a.localPeerId, now + TOKEN_MAX_AGE_MS + 1_000))) // from the future
      yield* unauthenticated(tokenMetadata(mintCallerToken(signerOf(OUTSIDER), testPeerId(5), now))) // for another server

      const token = mintCallerToken(signerOf(OUTSIDER), a.localPeerId, now)
      const accepted = yield* rawUnary(first, Echo.path, echoBytes("x"), tokenMetadata(token))
      expect(echoCaller(accepted)).toBe(testPeerId(OUTSIDER))
      // The same token on another connection is a replay; it stays good on its own connection.
      expect((yield* rawUnary(second, Echo.path, echoBytes("x"), tokenMetadata(token))).code).toBe(StatusCode.UNAUTHENTICATED)
      expect(echoCaller(yield* rawUnary(first, Echo.path, echoBytes("x"), tokenMetadata(token)))).toBe(testPeerId(OUTSIDER))
      // The node's own client signs correctly.
      const b = yield* makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: "127.0.0.1:0", plaintext: true })
      yield* b.dial(a.localPeerId, a.listenAddress)
      expect((yield* b.call(a.localPeerId, Echo, { text: "ok" }, TIMEOUT)).caller).toBe(b.localPeerId)
    })
  )

  it.scopedLive("plaintext: a client that dialled the wrong PeerId is refused at its first call", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(true, 0)
      const b = yield* makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: "127.0.0.1:0", plaintext: true })
      yield* b.dial(testPeerId(2), a.listenAddress)
      expect(yield* Effect.flip(b.call(testPeerId(2), Echo, { text: "x" }, TIMEOUT))).toMatchObject({ _tag: "RpcRejected", code: "UNAUTHENTICATED" })
    })
  )
})

describe("GrpcNetworkLayer: hostile bytes from a generic client", () => {
  for (const plaintext of [false, true]) {
    it.scopedLive(`${plaintext ? "plaintext" : "TLS"}: garbage/truncated → INVALID_ARGUMENT, > 64 KiB → RESOURCE_EXHAUSTED, unknown → UNIMPLEMENTED`, () =>
      Effect.gen(function* () {
        const { node: a } = yield* server(plaintext)
        const certificate = nodeCertificate(testKeypair(OUTSIDER))
        const raw = yield* rawClient(
          a.listenAddress,
          plaintext ? { mode: "insecure" } : { mode: "tls", key: certificate.privateKeyPem, cert: certificate.certificatePem }
        )
        const metadata = () => (plaintext ? tokenMetadata(mintCallerToken(signerOf(OUTSIDER), a.localPeerId, Date.now())) : new grpc.Metadata())
        const call = (path: string, bytes: Uint8Array) => Effect.map(rawUnary(raw, path, bytes, metadata()), (r) => r.code)
        const valid = Strict.request.encode({ start: 200, end: 100_000 })

        expect(yield* call(Strict.path, valid)).toBe(StatusCode.OK)
        expect(yield* call(Strict.path, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(StatusCode.INVALID_ARGUMENT)
        expect(yield* call(Strict.path, valid.subarray(0, valid.length - 1))).toBe(StatusCode.INVALID_ARGUMENT)
        expect(yield* call(Strict.path, new Uint8Array([0x0b]))).toBe(StatusCode.INVALID_ARGUMENT) // wire type 3 (groups)
        expect(yield* call(Count.path, new Uint8Array([0x7b, 0x7b]))).toBe(StatusCode.INVALID_ARGUMENT) // a stream route: bad JSON
        expect(yield* call(Strict.path, new Uint8Array(MAX_REQUEST_BYTES + 1))).toBe(StatusCode.RESOURCE_EXHAUSTED)
        expect(yield* call(Unknown.path, new Uint8Array([1]))).toBe(StatusCode.UNIMPLEMENTED)
        expect(yield* call("/not.a.Service/Method", new Uint8Array([1]))).toBe(StatusCode.UNIMPLEMENTED)
        // And it keeps serving.
        expect(yield* call(Strict.path, valid)).toBe(StatusCode.OK)
      })
    )
  }
})

describe("GrpcNetworkLayer: lifecycle", () => {
  it.scopedLive("port 0 binds a real port; closing a node's scope closes its server and the dialler sees ConnectionLost", () =>
    Effect.gen(function* () {
      const { node: a, close } = yield* server(false, 0)
      expect(a.listenAddress).toMatch(/^127\.0\.0\.1:[1-9]\d*$/)
      const b = yield* makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: "127.0.0.1:0" })
      const events = yield* b.peerEvents
      yield* b.dial(a.localPeerId, a.listenAddress)
      yield* close
      const seen = yield* Stream.runCollect(Stream.take(events, 2)).pipe(Effect.timeout(Duration.seconds(10)))
      expect(Chunk.toReadonlyArray(seen).map((e) => (e._tag === "PeerDisconnected" ? e.reason : e._tag))).toEqual(["PeerConnected", "ConnectionLost"])
      expect(yield* b.connectedPeers).toEqual([])
      expect(yield* Effect.flip(b.dial(a.localPeerId, a.listenAddress))).toMatchObject({ _tag: "PeerUnavailable", reason: "Unreachable" })
    })
  )

  it.scopedLive("closing the dialler's scope closes its channels, ends its event streams and frees its port", () =>
    Effect.gen(function* () {
      const { node: a } = yield* server(false, 0)
      const scope = yield* Scope.make()
      const b = yield* Scope.extend(makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: "127.0.0.1:0" }), scope)
      const events = yield* Scope.extend(b.peerEvents, scope)
      const collected = yield* Effect.fork(Stream.runCollect(events))
      yield* b.dial(a.localPeerId, a.listenAddress)
      yield* Effect.sleep(Duration.millis(20))
      const address = b.listenAddress
      yield* Scope.close(scope, Exit.void)
      // The stream ends (it does not hang) once the node is gone.
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected).pipe(Effect.timeout(Duration.seconds(5))))
      expect(seen[0]?._tag).toBe("PeerConnected")
      expect(yield* Effect.flip(b.call(a.localPeerId, Echo, { text: "x" }, TIMEOUT))).toMatchObject({ _tag: "PeerUnavailable" })
      const again = yield* makeGrpcNetwork({ keypair: testKeypair(1), listenAddress: address })
      expect(again.listenAddress).toBe(address)
    })
  )
})
