/**
 * Raw gRPC over HTTP/2 + TLS for attackers: a session authenticated with an attacker identity's
 * certificate, and calls whose request bytes, compression flag and reading are entirely the
 * attacker's choice (grpc-js would compress on every send, read every answer and keep its own
 * limits). The server's identity is not checked: an attacker does not care whom it floods.
 */
import http2 from "node:http2"
import { connect as tcpConnect } from "node:net"
import { connect as tlsConnect, type TLSSocket } from "node:tls"
import { CERTIFICATE_HOSTNAME, WELL_KNOWN_CA_PEM } from "../../layers/network/grpc/certificate.js"
import type { AttackerIdentity } from "./identity.js"

/** The six routes of `soma.p2p.v1.P2p`. */
export const P2P_ROUTES = [
  "/soma.p2p.v1.P2p/GetKnownPeers",
  "/soma.p2p.v1.P2p/GetCommitAvailability",
  "/soma.p2p.v1.P2p/GetCommitInfo",
  "/soma.p2p.v1.P2p/PushCommit",
  "/soma.p2p.v1.P2p/FetchCommits",
  "/soma.p2p.v1.P2p/FetchBlocks"
] as const

/**
 * Where the attackers' connections come from: a loopback address of their own (Linux routes all of
 * 127/8 to the loopback interface), so that the victim's per-address limits see the attacker, not the
 * honest client on 127.0.0.1 — as on a real network, where they are different hosts.
 */
export const ATTACKER_SOURCE_ADDRESS = "127.0.0.2"

/** Time allowed to connect and finish the TLS handshake. */
const CONNECT_TIMEOUT_MS = 10_000

/** Splits `host:port` / `[v6]:port`. */
export const splitAddress = (address: string): { readonly host: string; readonly port: number } => {
  const at = address.lastIndexOf(":")
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(address.slice(at + 1)) }
}

/** A TLS connection (ALPN h2) to `address` as `identity`, from `localAddress`; the victim's identity is not checked. */
export const attackerTlsSocket = (address: string, identity: AttackerIdentity, localAddress = ATTACKER_SOURCE_ADDRESS): TLSSocket => {
  const { host, port } = splitAddress(address)
  return tlsConnect({
    socket: tcpConnect({ host, port, localAddress }),
    ca: WELL_KNOWN_CA_PEM,
    cert: identity.certificate.certificatePem,
    key: identity.certificate.privateKeyPem,
    servername: CERTIFICATE_HOSTNAME,
    ALPNProtocols: ["h2"],
    checkServerIdentity: () => undefined
  })
}

/** Opens an HTTP/2 session to `address` (`host:port`) as `identity`. */
export const connectSession = (address: string, identity: AttackerIdentity, settings: http2.Settings = {}): Promise<http2.ClientHttp2Session> =>
  new Promise((resolve, reject) => {
    const session = http2.connect(`https://${address}`, { createConnection: () => attackerTlsSocket(address, identity), settings })
    const timer = setTimeout(() => {
      session.destroy()
      reject(new Error(`no HTTP/2 session to ${address} within ${CONNECT_TIMEOUT_MS} ms`))
    }, CONNECT_TIMEOUT_MS)
    session.once("connect", () => {
      clearTimeout(timer)
      session.removeAllListeners("error")
      session.on("error", () => {}) // a reset session is the attack's normal life
      resolve(session)
    })
    session.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })

/** A gRPC length-prefixed message: flag (1 = compressed), length (u32 BE), bytes. */
export const grpcFrame = (message: Uint8Array, compressed = false): Buffer => {
  const frame = Buffer.allocUnsafe(5 + message.length)
  frame.writeUInt8(compressed ? 1 : 0, 0)
  frame.writeUInt32BE(message.length, 1)
  frame.set(message, 5)
  return frame
}

/** How a raw call ended: its gRPC status (undefined: no status, e.g. the stream was reset). */
export interface RawCallOutcome {
  readonly status: number | undefined
  readonly bytesReceived: number
}

/** Headers of a gRPC call on `path`. */
export const grpcHeaders = (path: string, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders => ({
  ":method": "POST",
  ":path": path,
  "content-type": "application/grpc",
  te: "trailers",
  ...extra
})

/**
 * Sends one gRPC request frame on `path` and reads the answer to its end (`timeoutMs`: the stream is
 * reset if it lasts longer). Never rejects.
 */
export const rawCall = (
  session: http2.ClientHttp2Session,
  path: string,
  frame: Buffer,
  options: { readonly headers?: http2.OutgoingHttpHeaders; readonly timeoutMs?: number } = {}
): Promise<RawCallOutcome> =>
  new Promise((resolve) => {
    let status: number | undefined
    let bytesReceived = 0
    let stream: http2.ClientHttp2Stream
    try {
      stream = session.request(grpcHeaders(path, options.headers))
    } catch {
      return resolve({ status: undefined, bytesReceived })
    }
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), options.timeoutMs ?? 30_000)
    const readStatus = (headers: http2.IncomingHttpHeaders) => {
      const value = headers["grpc-status"]
      if (typeof value === "string") status = Number(value)
    }
    stream.on("response", readStatus)
    stream.on("trailers", readStatus)
    stream.on("data", (chunk: Buffer) => (bytesReceived += chunk.length))
    stream.on("error", () => {})
    stream.on("close", () => {
      clearTimeout(timer)
      resolve({ status, bytesReceived })
    })
    stream.end(frame)
  })

/** One identity's session, reopened (once, whoever asks) when the victim closes it. */
export class SessionSlot {
  private current: Promise<http2.ClientHttp2Session> | undefined
  reconnects = 0

  constructor(
    private readonly address: string,
    private readonly identity: AttackerIdentity,
    private readonly settings: http2.Settings = {}
  ) {}

  /** The open session (connecting when there is none or it was closed). */
  async session(): Promise<http2.ClientHttp2Session> {
    const seen = this.current
    if (seen !== undefined) {
      const session = await seen.catch(() => undefined)
      if (session !== undefined && !session.closed && !session.destroyed) return session
      if (this.current !== seen) return this.session() // someone else reconnected meanwhile
      this.reconnects++
    }
    const next = connectSession(this.address, this.identity, this.settings)
    this.current = next
    return next
  }

  /** Closes the session. */
  async close(): Promise<void> {
    const session = await this.current?.catch(() => undefined)
    session?.destroy()
  }
}
