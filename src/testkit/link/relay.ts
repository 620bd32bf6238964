/**
 * The relay core of the link emulator: a TCP server on 127.0.0.1 that, for each accepted connection,
 * opens one to the target and forwards both directions under the link's conditions (direction.ts),
 * and that stalls (holds every byte, reads nothing) or cuts (resets every connection and refuses new
 * ones) on command until healed. It runs in the link's own process (linkProcess.ts) so that its timers
 * are not delayed by the work of the process under test; it never throws on a socket's fate — a
 * refused target or a reset peer ends that one connection, nothing else.
 */
import { connect, createServer, type Socket } from "node:net"
import { performance } from "node:perf_hooks"
import { updateConditions, type LinkConditions } from "./conditions.js"
import { Direction, type DirectionLink } from "./direction.js"

/** Where accepted connections are forwarded. */
export interface RelayTarget {
  readonly host: string
  readonly port: number
}

/** What the link is doing to its connections. */
export type LinkMode = "forwarding" | "stalled" | "cut"

/** Counters of a link since it started. */
export interface LinkStats {
  /** TCP connections accepted, including those reset at once during a cut. */
  readonly connectionsAccepted: number
  readonly connectionsOpen: number
  /** Payload bytes delivered, both directions together. */
  readonly bytesForwarded: number
  /** Of the accepted connections, those reset at once because the link was cut. */
  readonly connectionsRefused: number
  /** Of the accepted connections, those whose connection to the target failed (refused, unreachable). */
  readonly targetFailures: number
  /** Bytes held now (queued for delivery or unsent in a socket), both directions of all connections. */
  readonly bytesQueued: number
  readonly mode: LinkMode
}

export interface RelayOptions {
  readonly target: RelayTarget
  /** 0: any free port. */
  readonly listenPort: number
  readonly conditions: LinkConditions
  /** Where the relay reports what is not a connection's ordinary fate (a server error). */
  readonly log: (line: string) => void
}

/** A running relay; commands take effect at once. */
export interface Relay {
  readonly port: number
  readonly set: (change: Partial<LinkConditions>) => void
  readonly cut: () => void
  readonly stall: () => void
  readonly heal: () => void
  readonly stats: () => LinkStats
  /** Resets every connection and stops listening. */
  readonly close: () => Promise<void>
}

/** Ends a socket with a TCP RST, so its peer sees ECONNRESET at once rather than a graceful FIN. */
const reset = (socket: Socket): void => {
  if (socket.destroyed) return
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/** Lifecycle callbacks from a connection to the relay. */
interface ConnectionEvents {
  readonly targetFailed: () => void
  readonly done: (connection: Connection) => void
}

/**
 * One accepted connection and its connection to the target. Each side's FIN travels through its
 * Direction behind the data; an error on either side (or a cut) resets both at once. It is done when
 * both sockets have closed, or at once when aborted.
 */
class Connection {
  private readonly target: Socket
  private directions: ReadonlyArray<Direction> = []
  private closedSockets = 0
  private finished = false

  constructor(
    private readonly client: Socket,
    address: RelayTarget,
    link: DirectionLink,
    private readonly events: ConnectionEvents
  ) {
    client.setNoDelay(true)
    this.target = connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true })
    const target = this.target
    let connected = false
    target.once("connect", () => {
      connected = true
      if (this.finished) return
      this.directions = [new Direction(client, target, link), new Direction(target, client, link)]
      for (const direction of this.directions) direction.start()
    })
    target.once("error", () => {
      if (!connected && !this.finished) events.targetFailed()
    })
    for (const socket of [client, target]) {
      socket.on("error", () => this.abort())
      socket.on("close", (hadError: boolean) => {
        // A clean close comes after this side's FIN was read and ours delivered; anything else is an abort.
        if (hadError || !socket.readableEnded) this.abort()
        else if (++this.closedSockets === 2) this.finish()
      })
    }
  }

  get backlogBytes(): number {
    let bytes = 0
    for (const direction of this.directions) bytes += direction.backlogBytes
    return bytes
  }

  freeze(): void {
    for (const direction of this.directions) direction.freeze()
  }

  thaw(stalledMs: number): void {
    for (const direction of this.directions) direction.thaw(stalledMs)
  }

  conditionsChanged(): void {
    for (const direction of this.directions) direction.conditionsChanged()
  }

  /** Drops everything held and resets both sides (an error on one side, a cut, or the relay closing). */
  abort(): void {
    for (const direction of this.directions) direction.stop()
    reset(this.client)
    reset(this.target)
    this.finish()
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.events.done(this)
  }
}

/** Starts a relay listening on 127.0.0.1; fails if the port cannot be bound. */
export const startRelay = (options: RelayOptions): Promise<Relay> =>
  new Promise((resolve, reject) => {
    let conditions = options.conditions
    let stalledSince: number | undefined = undefined
    let isCut = false
    let connectionsAccepted = 0
    let connectionsRefused = 0
    let targetFailures = 0
    let bytesForwarded = 0
    const connections = new Set<Connection>()
    const link: DirectionLink = {
      conditions: () => conditions,
      stalledSince: () => stalledSince,
      onForwarded: (bytes) => {
        bytesForwarded += bytes
      }
    }
    const events: ConnectionEvents = {
      targetFailed: () => {
        targetFailures++
      },
      done: (connection) => {
        connections.delete(connection)
      }
    }

    // pauseOnConnect: nothing is read from a client before its target connection exists.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
      connectionsAccepted++
      client.on("error", () => undefined)
      if (isCut) {
        connectionsRefused++
        reset(client)
        return
      }
      connections.add(new Connection(client, options.target, link, events))
    })

    const abortAll = () => {
      for (const connection of [...connections]) connection.abort()
    }

    const relay = (port: number): Relay => ({
      port,
      set: (change) => {
        conditions = updateConditions(conditions, change)
        for (const connection of connections) connection.conditionsChanged()
      },
      cut: () => {
        isCut = true
        abortAll()
      },
      stall: () => {
        if (stalledSince !== undefined) return
        stalledSince = performance.now()
        for (const connection of connections) connection.freeze()
      },
      heal: () => {
        isCut = false
        if (stalledSince === undefined) return
        const stalledMs = performance.now() - stalledSince
        stalledSince = undefined
        for (const connection of connections) connection.thaw(stalledMs)
      },
      stats: () => {
        let bytesQueued = 0
        for (const connection of connections) bytesQueued += connection.backlogBytes
        return {
          connectionsAccepted,
          connectionsOpen: connections.size,
          bytesForwarded,
          connectionsRefused,
          targetFailures,
          bytesQueued,
          mode: isCut ? "cut" : stalledSince !== undefined ? "stalled" : "forwarding"
        }
      },
      close: () =>
        new Promise<void>((closed) => {
          isCut = true
          abortAll()
          server.close(() => closed())
        })
    })

    server.once("error", reject)
    server.listen(options.listenPort, "127.0.0.1", () => {
      server.off("error", reject)
      server.on("error", (error) => options.log(`server error: ${error.message}`))
      const address = server.address()
      if (address === null || typeof address === "string") {
        reject(new Error(`unexpected listen address ${String(address)}`))
        return
      }
      resolve(relay(address.port))
    })
  })
