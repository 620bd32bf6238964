/**
 * The server's own TCP listener. grpc-js's `bindAsync` accepts every connection and gives no say over
 * which to keep, so we listen ourselves, admit each socket through the `InboundConnectionTable`, do
 * the TLS handshake ourselves (with a deadline), and hand the result to grpc-js through its connection
 * injector (`Server.createConnectionInjector`, grpc-js ≥ 1.12).
 *
 * TLS: an unlistened `tls.Server` does the handshake on the accepted socket (`emit("connection")`),
 * because only the server path of Node's TLS sets `authorized` from the client certificate's chain check
 * (a bare `TLSSocket` does not), and grpc-js exposes the client certificate only on an authorized
 * socket. The secured socket is injected into an *insecure* grpc-js injector: grpc-js then runs plain
 * HTTP/2 over our TLS socket, and `getAuthContext()` still finds the `TLSSocket` and its certificate,
 * so the caller's PeerId comes from the certificate exactly as before.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import type { Duplex } from "node:stream"
import { Effect, type Scope } from "effect"
import { ListenFailed } from "../../../services/Network.js"
import { addressGroup } from "./addressGroup.js"
import type { InboundConnectionTable } from "./inboundConnections.js"

/**
 * Time a TLS handshake may take before the socket is closed. A handshake is two round trips; our
 * client gives up after 5 s (`CONNECT_TIMEOUT_MS`), so 10 s is generous. Node's default (120 s) would
 * let a silent socket hold a connection slot twelve times longer.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

/** What the listener needs for TLS. */
export interface ListenerTls {
  readonly caPem: string
  readonly certificatePem: string
  readonly privateKeyPem: string
  readonly handshakeTimeoutMs: number
}

/** The key grpc-js gives a call's connection (`ServerSurfaceCall.getPeer()`): `host:port`. */
export const connectionKey = (socket: net.Socket): string | undefined =>
  socket.remoteAddress === undefined || socket.remotePort === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`

/**
 * Listens on `host:port` and hands every admitted (and, with TLS, secured) connection to `inject`.
 * Returns the bound port (the real one when port 0 was asked). Closing the scope stops listening and
 * destroys every socket it accepted.
 */
export const listen = (options: {
  readonly host: string
  readonly port: number
  readonly table: InboundConnectionTable
  readonly tls: ListenerTls | undefined
  readonly inject: (socket: Duplex) => void
}): Effect.Effect<number, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const { table } = options
    const sockets = new Set<net.Socket>()
    // Sockets whose handshake is under way, by connection key, so the secured socket finds its record.
    const handshaking = new Map<string, (secured: tls.TLSSocket) => void>()

    const secureServer =
      options.tls === undefined
        ? undefined
        : tls.createServer({
            ca: options.tls.caPem,
            cert: options.tls.certificatePem,
            key: options.tls.privateKeyPem,
            // Request and verify a client certificate: that is where the caller's PeerId comes from.
            requestCert: true,
            rejectUnauthorized: true,
            ALPNProtocols: ["h2"],
            handshakeTimeout: options.tls.handshakeTimeoutMs
          })
    secureServer?.on("secureConnection", (secured: tls.TLSSocket) => {
      const key = connectionKey(secured)
      const onSecured = key === undefined ? undefined : handshaking.get(key)
      if (onSecured === undefined) secured.destroy()
      else onSecured(secured)
    })
    // Failed or timed-out handshakes: Node reports them here; the socket is closed below.
    secureServer?.on("tlsClientError", (_error, socket) => socket.destroy())

    const onConnection = (raw: net.Socket): void => {
      raw.on("error", () => {}) // a reset by the peer ends up as "close", which is what we act on
      const key = connectionKey(raw)
      const address = raw.remoteAddress
      if (key === undefined || address === undefined) return void raw.destroy()
      let secured: tls.TLSSocket | undefined
      const close = (): void => {
        secured?.destroy()
        raw.destroy()
      }
      // Capped per address group (an IPv6 /64), not per address: see `addressGroup.ts`.
      const admission = table.admit(key, addressGroup(address), close)
      if (!admission.admitted) return void raw.destroy()
      sockets.add(raw)
      const onClose = (): void => {
        sockets.delete(raw)
        handshaking.delete(key)
        table.closed(key, close)
      }
      raw.once("close", onClose)
      if (secureServer === undefined) return options.inject(raw)
      handshaking.set(key, (socket) => {
        handshaking.delete(key)
        secured = socket
        socket.on("error", () => {})
        socket.once("close", () => {
          raw.destroy()
          onClose()
        })
        options.inject(socket)
      })
      secureServer.emit("connection", raw)
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() => net.createServer(onConnection)),
      (server) =>
        Effect.sync(() => {
          server.close()
          for (const socket of sockets) socket.destroy()
          sockets.clear()
        })
    )

    const address = `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`
    return yield* Effect.async<number, ListenFailed>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(new ListenFailed({ address, detail: error.message })))
      server.once("error", onError)
      server.listen({ host: options.host, port: options.port }, () => {
        server.removeListener("error", onError)
        const bound = server.address()
        resume(Effect.succeed(typeof bound === "object" && bound !== null ? bound.port : options.port))
      })
    })
  })
