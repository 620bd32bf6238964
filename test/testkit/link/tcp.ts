/**
 * Loopback TCP endpoints for the link emulator's tests: an echo server and a sink server to put behind
 * a link, and small client helpers (connect, ping, wait for a socket's fate). Real sockets, so the
 * tests see what a gRPC peer behind a link would see.
 */
import { createServer, connect, type Server, type Socket } from "node:net"
import { performance } from "node:perf_hooks"

/** A server on 127.0.0.1 and the sockets it accepted. */
export interface TestServer {
  readonly port: number
  readonly accepted: ReadonlyArray<Socket>
  /** How many accepted sockets have closed. */
  readonly closedCount: () => number
  readonly close: () => Promise<void>
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") reject(new Error("no port"))
      else resolve(address.port)
    })
  })

const serve = async (onSocket: (socket: Socket) => void): Promise<TestServer> => {
  const accepted: Array<Socket> = []
  let closed = 0
  const server = createServer((socket) => {
    accepted.push(socket)
    socket.setNoDelay(true)
    // A link cut resets these sockets on purpose.
    socket.on("error", () => undefined)
    socket.on("close", () => closed++)
    onSocket(socket)
  })
  const port = await listen(server)
  return {
    port,
    accepted,
    closedCount: () => closed,
    close: () =>
      new Promise((resolve) => {
        for (const socket of accepted) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** Echoes every byte back; ends its side when the client ends (after echoing everything). */
export const echoServer = (): Promise<TestServer> => serve((socket) => socket.pipe(socket))

/** What a sink connection received, with the time of each chunk. */
export interface SinkConnection {
  readonly chunks: Array<{ readonly atMs: number; readonly data: Buffer }>
  ended: boolean
}

/** Reads and keeps everything; `connections` in accept order. */
export const sinkServer = async (): Promise<TestServer & { readonly connections: ReadonlyArray<SinkConnection> }> => {
  const connections: Array<SinkConnection> = []
  const server = await serve((socket) => {
    const connection: SinkConnection = { chunks: [], ended: false }
    connections.push(connection)
    socket.on("data", (data: Buffer) => connection.chunks.push({ atMs: performance.now(), data }))
    socket.on("end", () => {
      connection.ended = true
    })
  })
  return { ...server, connections }
}

/** Bytes a sink connection received so far. */
export const receivedBytes = (connection: SinkConnection | undefined): number =>
  connection === undefined ? 0 : connection.chunks.reduce((sum, chunk) => sum + chunk.data.length, 0)

/** Connects to 127.0.0.1:port (half-open allowed, Nagle off, errors recorded rather than thrown). */
export const connectTo = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true, noDelay: true })
    socket.once("connect", () => {
      socket.off("error", reject)
      socket.on("error", () => undefined)
      resolve(socket)
    })
    socket.once("error", reject)
  })

/** Sends one byte and waits for it to come back; the round-trip time in ms. */
export const ping = (socket: Socket): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const onClose = () => reject(new Error("closed before the echo came back"))
    socket.once("close", onClose)
    socket.once("data", () => {
      socket.off("close", onClose)
      resolve(performance.now() - started)
    })
    socket.write("p")
  })

/** Resolves when the socket closes; whether any data arrived before, and the error seen if any. */
export const closed = (socket: Socket): Promise<{ readonly gotData: boolean; readonly error: string | undefined }> =>
  new Promise((resolve) => {
    let gotData = false
    let error: string | undefined
    socket.on("data", () => {
      gotData = true
    })
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message
    })
    if (socket.destroyed) resolve({ gotData, error })
    else socket.once("close", () => resolve({ gotData, error }))
  })

/** Polls `condition` every few ms until it holds or `timeoutMs` passes; whether it held. */
export const eventually = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await sleep(5)
  }
  return true
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/**
 * Writes `bytes` in 64 KiB pieces, all at once. Node reports a single large write as unsent until all
 * of it has gone, so pieces make `socket.writableLength` show what the kernel has not taken yet.
 */
export const writeInPieces = (socket: Socket, bytes: Buffer): void => {
  const piece = 64 * 1024
  for (let offset = 0; offset < bytes.length; offset += piece) socket.write(bytes.subarray(offset, offset + piece))
}

/** `length` bytes of a counting pattern, so reordering or loss shows when compared. */
export const pattern = (length: number, offset = 0): Buffer => {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = (i + offset) % 251
  return bytes
}
