/**
 * Accounting of the server's inbound connections: caps in total and per remote address, and which
 * connection gives way when a cap is reached. No I/O here: the listener (`listener.ts`) feeds it
 * accepted sockets and closes what it says; the server's interceptor feeds it call starts and ends.
 *
 * When a cap is reached the newcomer is not simply refused (that would let an attacker who connects
 * first keep everyone out): the oldest connection that has not authenticated and has no call in
 * flight is closed to make room; failing that, the oldest unauthenticated one with calls in flight (a
 * call that never sends its request would otherwise pin its connection). Authenticated connections are
 * never closed for room: if every connection is authenticated, the newcomer is refused.
 */

/** Caps on inbound connections. */
export interface InboundConnectionLimits {
  /** Connections open at once, from anywhere. */
  readonly maxConnections: number
  /** Connections open at once from one remote IP address. */
  readonly maxConnectionsPerAddress: number
}

/**
 * Defaults. A node talks to a few hundred peers at most (validators plus full nodes; discovery keeps
 * far fewer connected), each dialling us once, so 512 leaves room to spare while bounding the sockets,
 * TLS sessions and HTTP/2 state an attacker can make us hold (each costs tens of KiB). 16 per address
 * lets a few nodes share a host or a NAT, and several addresses are needed to reach the total cap.
 */
export const DEFAULT_INBOUND_CONNECTION_LIMITS: InboundConnectionLimits = { maxConnections: 512, maxConnectionsPerAddress: 16 }

/** What the table knows about one connection. */
interface Entry {
  readonly key: string
  readonly address: string
  /** Closes the connection's socket; the table has already forgotten it. */
  readonly close: () => void
  authenticated: boolean
  /** Who authenticated on it (the PeerId of its calls' caller), once one did. */
  caller: string | undefined
  activeCalls: number
}

/** The outcome of `admit`: the connections to close to make room, or why the newcomer is refused. */
export type Admission =
  | { readonly admitted: true; readonly evicted: ReadonlyArray<string> }
  | { readonly admitted: false; readonly reason: string }

/** The inbound connections of one server. Plain state, used synchronously from socket callbacks. */
export class InboundConnectionTable {
  // Insertion order is accept order: iteration meets the oldest first.
  private readonly entries = new Map<string, Entry>()
  private readonly perAddress = new Map<string, number>()

  constructor(private readonly limits: InboundConnectionLimits) {}

  /** Connections open now. */
  get size(): number {
    return this.entries.size
  }

  /** Connections open now from `address`. */
  countOf(address: string): number {
    return this.perAddress.get(address) ?? 0
  }

  /** Whether the connection `key` is open and has authenticated a call. */
  isAuthenticated(key: string): boolean {
    return this.entries.get(key)?.authenticated === true
  }

  /**
   * A connection `key` (the `host:port` grpc-js reports as the call's peer) was accepted from
   * `address`. Closes (through their `close`) the connections that give way for it, or refuses it.
   */
  admit(key: string, address: string, close: () => void): Admission {
    const victims: Array<Entry> = []
    if (this.countOf(address) >= this.limits.maxConnectionsPerAddress) {
      const victim = this.giveWay((entry) => entry.address === address)
      if (victim === undefined) return { admitted: false, reason: `${this.limits.maxConnectionsPerAddress} authenticated connections from ${address}` }
      victims.push(victim)
    }
    if (this.entries.size - victims.length >= this.limits.maxConnections) {
      const victim = this.giveWay((entry) => !victims.includes(entry))
      if (victim === undefined) return { admitted: false, reason: `${this.limits.maxConnections} authenticated connections` }
      victims.push(victim)
    }
    for (const victim of victims) {
      this.forget(victim)
      victim.close()
    }
    this.forget(this.entries.get(key)) // a stale entry for a reused port (its close event is late)
    this.entries.set(key, { key, address, close, authenticated: false, caller: undefined, activeCalls: 0 })
    this.perAddress.set(address, this.countOf(address) + 1)
    return { admitted: true, evicted: victims.map((victim) => victim.key) }
  }

  /** The connection `key` closed (by either side). Ignored unless `close` is still its entry's. */
  closed(key: string, close: () => void): void {
    const entry = this.entries.get(key)
    if (entry !== undefined && entry.close === close) this.forget(entry)
  }

  /** A call (an HTTP/2 stream with a handler) started on `key`. */
  callStarted(key: string): void {
    const entry = this.entries.get(key)
    if (entry !== undefined) entry.activeCalls += 1
  }

  /** A call on `key` ended, however it ended. */
  callEnded(key: string): void {
    const entry = this.entries.get(key)
    if (entry !== undefined) entry.activeCalls = Math.max(0, entry.activeCalls - 1)
  }

  /**
   * A call on `key` authenticated its caller, `caller`: the connection is no longer a candidate to give
   * way, and `closeCaller(caller)` closes it.
   */
  authenticated(key: string, caller: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    entry.authenticated = true
    entry.caller = caller
  }

  /**
   * Closes every connection on which `caller` authenticated (we cut it off, `Network.cutOff`): a banned
   * peer's calls are refused anyway, but its open connection would keep a slot, and every call on it
   * would still cost an authentication and a refusal. Answers how many were closed.
   */
  closeCaller(caller: string): number {
    const victims = [...this.entries.values()].filter((entry) => entry.caller === caller)
    for (const victim of victims) {
      this.forget(victim)
      victim.close()
    }
    return victims.length
  }

  /** The oldest unauthenticated connection among `candidates`, idle ones first. */
  private giveWay(candidate: (entry: Entry) => boolean): Entry | undefined {
    let busy: Entry | undefined
    for (const entry of this.entries.values()) {
      if (entry.authenticated || !candidate(entry)) continue
      if (entry.activeCalls === 0) return entry
      busy ??= entry
    }
    return busy
  }

  private forget(entry: Entry | undefined): void {
    if (entry === undefined || this.entries.get(entry.key) !== entry) return
    this.entries.delete(entry.key)
    const count = this.countOf(entry.address) - 1
    if (count > 0) this.perAddress.set(entry.address, count)
    else this.perAddress.delete(entry.address)
  }
}
