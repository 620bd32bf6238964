/**
 * The server side of plaintext mode's caller tokens (`callerToken.ts`): verifies a token once, then
 * remembers it for the connection it first arrived on, so that the same token on another connection is
 * refused as a replay.
 *
 * Remembering is a resource a caller spends, so it has budgets. Without them one connection could
 * present 10,000 fresh tokens, fill the table, and lock every other caller out until they expired.
 * Budgets count live (unexpired) remembered tokens:
 * - per connection, checked before any cryptography, so a flood over budget costs a map lookup;
 * - per remote address, so reconnecting does not reset the connection budget (a closed connection's
 *   tokens stay remembered until they expire: forgetting one would let its replay through);
 * - per caller key, checked after the signature, so only the key's holder can spend its budget;
 * - in total, the last resort.
 * Over a budget the call is answered RESOURCE_EXHAUSTED and the token is not remembered; the connection
 * stays open, since the refusal costs us nothing more (an honest client never gets there: it reuses
 * one token per connection for `TOKEN_REFRESH_MS`).
 */
import { verify } from "node:crypto"
import { Either } from "effect"
import { peerIdFromPublicKey, type PeerId } from "../../../domain/PeerId.js"
import { strictPrecheck } from "../../crypto/ed25519Strict.js"
import { ed25519PublicKey, WELL_KNOWN_CA_PEER_ID } from "./certificate.js"
import { parseCallerToken, TOKEN_MAX_AGE_MS } from "./callerToken.js"

/**
 * Live tokens one connection may have remembered. An honest client mints one per `TOKEN_REFRESH_MS`
 * (10 s) and a token stays live for at most 2 × `TOKEN_MAX_AGE_MS` (60 s, when the client's clock is
 * 30 s ahead): at most 7. Above that the connection is not an honest client.
 */
export const MAX_LIVE_TOKENS_PER_CONNECTION = 8
/**
 * Live tokens from one remote address: room for the per-address connection cap (16) at the honest
 * rate, plus the lingering tokens of connections that were closed and reopened.
 */
export const MAX_LIVE_TOKENS_PER_ADDRESS = 256
/** Live tokens of one caller key: a node has a handful of connections to us, never dozens. */
export const MAX_LIVE_TOKENS_PER_CALLER = 32
/**
 * Tokens remembered at once. With the budgets above it is reached only from ~40 addresses at once;
 * when full new tokens are refused until old ones expire, since forgetting a live token would let its
 * replay through.
 */
export const MAX_REMEMBERED_TOKENS = 10_000
/** Expired tokens are swept at most this often, so a flood cannot make us sweep on every call. */
const SWEEP_INTERVAL_MS = 1_000

/** Why a token was refused, and the status to answer with. */
export interface TokenRefusal {
  readonly code: "UNAUTHENTICATED" | "RESOURCE_EXHAUSTED"
  readonly reason: string
}

const unauthenticated = (reason: string): Either.Either<never, TokenRefusal> => Either.left({ code: "UNAUTHENTICATED", reason })
const exhausted = (reason: string): Either.Either<never, TokenRefusal> => Either.left({ code: "RESOURCE_EXHAUSTED", reason })

interface Remembered {
  readonly caller: PeerId
  readonly connection: string
  readonly address: string
  readonly timestampMs: number
}

/** The address part of a grpc-js peer string (`host:port`, IPv6 hosts unbracketed). */
const addressOf = (connection: string): string => {
  const colon = connection.lastIndexOf(":")
  return colon < 0 ? connection : connection.slice(0, colon)
}

/** Counts per key, dropping a key when its count reaches zero (so closed connections do not linger). */
class Counter<K> {
  private readonly counts = new Map<K, number>()
  get(key: K): number {
    return this.counts.get(key) ?? 0
  }
  add(key: K, delta: number): void {
    const next = this.get(key) + delta
    if (next <= 0) this.counts.delete(key)
    else this.counts.set(key, next)
  }
}

/**
 * Verifies tokens and remembers them per connection, within the budgets above. Used synchronously from
 * gRPC callbacks, so its state is plain Maps private to it.
 */
export class CallerTokenVerifier {
  private readonly remembered = new Map<string, Remembered>()
  private readonly perConnection = new Counter<string>()
  private readonly perAddress = new Counter<string>()
  private readonly perCaller = new Counter<PeerId>()
  private nextSweepMs = 0

  constructor(private readonly localPeerId: PeerId) {}

  /** Tokens remembered now (for tests and metrics). */
  get size(): number {
    return this.remembered.size
  }

  /** The authenticated caller of a call that came on `connection` with `token`, or why it is refused. */
  verify(token: Uint8Array | undefined, connection: string, nowMs: number): Either.Either<PeerId, TokenRefusal> {
    if (token === undefined) return unauthenticated("no caller token")
    const parsed = parseCallerToken(token)
    if (Either.isLeft(parsed)) return unauthenticated(parsed.left)
    const { id, callerKey, server, timestampMs, signed, signature } = parsed.right
    if (Math.abs(nowMs - timestampMs) > TOKEN_MAX_AGE_MS) return unauthenticated("expired caller token")
    const known = this.remembered.get(id)
    if (known !== undefined) {
      return known.connection === connection ? Either.right(known.caller) : unauthenticated("replayed caller token (seen on another connection)")
    }
    if (server !== this.localPeerId) return unauthenticated("caller token is for another server")

    // Budgets that need no cryptography come first: over them, a token costs a lookup, not a verify.
    this.sweepIfDue(nowMs)
    const address = addressOf(connection)
    if (this.perConnection.get(connection) >= MAX_LIVE_TOKENS_PER_CONNECTION) {
      return exhausted(`this connection already has ${MAX_LIVE_TOKENS_PER_CONNECTION} live caller tokens; reuse one`)
    }
    if (this.perAddress.get(address) >= MAX_LIVE_TOKENS_PER_ADDRESS) {
      return exhausted(`address ${address} already has ${MAX_LIVE_TOKENS_PER_ADDRESS} live caller tokens`)
    }
    if (this.remembered.size >= MAX_REMEMBERED_TOKENS) return exhausted("too many live caller tokens; retry later")

    // The strict pre-check of the crypto layer: a small-order key would let a signature verify without
    // any private key, and a non-canonical one would give one point several PeerIds.
    if (!strictPrecheck(callerKey, signature)) return unauthenticated("caller token key or signature is not canonical (or of small order)")
    const caller = peerIdFromPublicKey(callerKey)
    if (caller === WELL_KNOWN_CA_PEER_ID) return unauthenticated("caller token signed by a public key")
    let valid = false
    try {
      valid = verify(null, signed, ed25519PublicKey(callerKey), signature)
    } catch {
      valid = false // not a valid Ed25519 public key
    }
    if (!valid) return unauthenticated("caller token signature does not verify")
    if (this.perCaller.get(caller) >= MAX_LIVE_TOKENS_PER_CALLER) {
      return exhausted(`caller already has ${MAX_LIVE_TOKENS_PER_CALLER} live caller tokens`)
    }
    this.remember(id, { caller, connection, address, timestampMs })
    return Either.right(caller)
  }

  private remember(id: string, entry: Remembered): void {
    this.remembered.set(id, entry)
    this.count(entry, 1)
  }

  private count(entry: Remembered, delta: number): void {
    this.perConnection.add(entry.connection, delta)
    this.perAddress.add(entry.address, delta)
    this.perCaller.add(entry.caller, delta)
  }

  private sweepIfDue(nowMs: number): void {
    if (nowMs >= this.nextSweepMs || nowMs < this.nextSweepMs - SWEEP_INTERVAL_MS) {
      this.nextSweepMs = nowMs + SWEEP_INTERVAL_MS
      for (const [id, entry] of this.remembered) {
        if (Math.abs(nowMs - entry.timestampMs) > TOKEN_MAX_AGE_MS) {
          this.remembered.delete(id)
          this.count(entry, -1)
        }
      }
    }
  }
}
