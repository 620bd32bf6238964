/**
 * Hostile and honest clients below grpc-js, for the transport tests: bare TCP sockets (a connection
 * flood), HTTP/2 sessions that can bind a local address (an "other host" on loopback: Linux routes all
 * of 127/8 to lo) and send any header or frame flag, e.g. a gzip-compressed request.
 */
import * as http2 from "node:http2"
import * as net from "node:net"
import * as tls from "node:tls"
import { Duration, Effect, type Scope } from "effect"
import { CERTIFICATE_HOSTNAME, nodeCertificate, WELL_KNOWN_CA_PEM } from "../../../../src/layers/network/grpc/certificate.js"
import { testKeypair } from "../fixtures.js"

/** A bare TCP connection, what it received, and whether the server has closed it. */
export interface RawSocket {
  readonly socket: net.Socket
  readonly received: () => Buffer
  readonly isClosed: () => boolean
}

const hostAndPort = (address: string) => {
  const colon = address.lastIndexOf(":")
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }
}

/** Opens a TCP connection to `address` from `localAddress` and waits until it is established. */
export const rawSocket = (address: string, localAddress = "127.0.0.1"): Effect.Effect<RawSocket, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<RawSocket>((resume) => {
      let closed = false
      const chunks: Array<Buffer> = []
      const socket = net.connect({ ...hostAndPort(address), localAddress })
      socket.on("error", () => {})
      // Reading is what lets us see the server's FIN behind whatever it sent first (HTTP/2 SETTINGS).
      socket.on("data", (chunk: Buffer) => chunks.push(chunk))
      socket.once("close", () => (closed = true))
      socket.once("connect", () => resume(Effect.succeed({ socket, received: () => Buffer.concat(chunks), isClosed: () => closed })))
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Polls `check` until it holds, or fails after `within`. */
export const eventually = (check: () => boolean, within: Duration.DurationInput = Duration.seconds(5)) =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(within))
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("condition not reached in time"))
      yield* Effect.sleep(Duration.millis(10))
    }
  })

/** An HTTP/2 session to `address`, plaintext or TLS with node certificate `certificateIndex`. */
export const h2Session = (
  address: string,
  options: { readonly localAddress?: string; readonly tlsCertificateIndex?: number } = {}
): Effect.Effect<http2.ClientHttp2Session, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<http2.ClientHttp2Session>((resume) => {
      const { host, port } = hostAndPort(address)
      const localAddress = options.localAddress ?? "127.0.0.1"
      const index = options.tlsCertificateIndex
      const certificate = index === undefined ? undefined : nodeCertificate(testKeypair(index))
      const session = http2.connect(`${certificate === undefined ? "http" : "https"}://${address}`, {
        createConnection: () =>
          certificate === undefined
            ? net.connect({ host, port, localAddress })
            : tls.connect({
                socket: net.connect({ host, port, localAddress }),
                ca: WELL_KNOWN_CA_PEM,
                cert: certificate.certificatePem,
                key: certificate.privateKeyPem,
                servername: CERTIFICATE_HOSTNAME,
                ALPNProtocols: ["h2"],
                checkServerIdentity: () => undefined
              })
      })
      session.on("error", () => {})
      session.once("connect", () => resume(Effect.succeed(session)))
    }),
    (session) => Effect.sync(() => session.destroy())
  )

/** A gRPC length-prefixed message. */
export const grpcFrame = (payload: Uint8Array, compressed = false): Buffer => {
  const frame = Buffer.alloc(5 + payload.length)
  frame.writeUInt8(compressed ? 1 : 0, 0)
  frame.writeUInt32BE(payload.length, 1)
  frame.set(payload, 5)
  return frame
}

/** The end of a raw unary call. */
export interface RawCallResult {
  /** grpc-status, or -1 when the stream ended without one (reset, connection closed). */
  readonly status: number
  readonly message: string
  /** The response message (without its 5-byte prefix), if one came. */
  readonly body: Buffer | undefined
}

/** A unary gRPC call made by hand on `session`: `frame` is sent as the request body. */
export const h2Unary = (
  session: http2.ClientHttp2Session,
  path: string,
  frame: Buffer,
  headers: http2.OutgoingHttpHeaders = {}
): Effect.Effect<RawCallResult> =>
  Effect.async<RawCallResult>((resume) => {
    let status = -1
    let message = ""
    const chunks: Array<Buffer> = []
    const take = (fields: http2.IncomingHttpHeaders) => {
      if (fields["grpc-status"] !== undefined) status = Number(fields["grpc-status"])
      if (typeof fields["grpc-message"] === "string") message = decodeURIComponent(fields["grpc-message"])
    }
    let stream: http2.ClientHttp2Stream
    try {
      stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers })
    } catch {
      return resume(Effect.succeed({ status: -1, message: "session closed", body: undefined }))
    }
    stream.on("error", () => {})
    stream.on("response", take)
    stream.on("trailers", take)
    stream.on("data", (chunk: Buffer) => chunks.push(chunk))
    stream.once("close", () => {
      const all = Buffer.concat(chunks)
      resume(Effect.succeed({ status, message, body: all.length >= 5 ? all.subarray(5) : undefined }))
    })
    stream.end(frame)
  })
