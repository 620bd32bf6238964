/**
 * The caller token of plaintext mode: without TLS there is no client certificate, so each call carries
 * in metadata a token signed by the caller's network key over `intent(PeerAuthentication) || body`,
 * the body binding (caller key, server key, timestamp, nonce). The server verifies a token once, then remembers it for
 * the connection it first arrived on: the same token on another connection is a replay, a token older
 * than `TOKEN_MAX_AGE_MS` is expired, a token for another server is refused. The client mints a fresh
 * token every `TOKEN_REFRESH_MS`. (In TLS mode the identity comes from the client certificate instead.)
 */
import { randomBytes, sign, verify, type KeyObject } from "node:crypto"
import { Either } from "effect"
import { intentMessage, IntentScope } from "../../../domain/intent.js"
import { peerIdFromPublicKey, type PeerId } from "../../../domain/PeerId.js"
import { ed25519PublicKey, WELL_KNOWN_CA_PEER_ID } from "./certificate.js"

/** Metadata key of the token (`-bin`: binary metadata). */
export const CALLER_TOKEN_METADATA_KEY = "soma-caller-token-bin"
/** A token is accepted within this distance of the server's clock (either way), the discovery skew bound. */
export const TOKEN_MAX_AGE_MS = 30_000
/** The client replaces its token this often, so a token in use is never near its expiry. */
export const TOKEN_REFRESH_MS = 10_000
/**
 * Tokens remembered at once. A peer mints one per connection per 10 s, so this covers thousands of
 * peers; when full (after dropping expired ones) new tokens are refused until old ones expire, since
 * forgetting a live token would let its replay through.
 */
export const MAX_REMEMBERED_TOKENS = 10_000

const VERSION = 1
const KEY_BYTES = 32
const NONCE_BYTES = 16
const SIGNATURE_BYTES = 64
const SIGNED_BYTES = 1 + KEY_BYTES + KEY_BYTES + 8 + NONCE_BYTES
/** Bytes of a token: version, caller key, server key, timestamp (u64 BE), nonce, signature. */
export const TOKEN_BYTES = SIGNED_BYTES + SIGNATURE_BYTES

/** What is signed: the token body under the transport's intent, so it can never pass for another signature. */
const signedMessage = (body: Uint8Array): Uint8Array => intentMessage(IntentScope.PeerAuthentication, body)

/** The caller's signing key. */
export interface TokenSigner {
  readonly privateKey: KeyObject
  readonly publicKey: Uint8Array
}

/**
 * A token of `signer` for calls to `server`, stamped `timestampMs`. The nonce makes every token unique
 * (it comes from the OS CSPRNG, not the simulation's `Random`: it must not be predictable).
 */
export const mintCallerToken = (
  signer: TokenSigner,
  server: PeerId,
  timestampMs: number,
  nonce: Uint8Array = randomBytes(NONCE_BYTES)
): Buffer => {
  const body = Buffer.alloc(SIGNED_BYTES)
  body.writeUInt8(VERSION, 0)
  body.set(signer.publicKey, 1)
  body.write(server, 1 + KEY_BYTES, "hex")
  body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(timestampMs))), 1 + 2 * KEY_BYTES)
  body.set(nonce.subarray(0, NONCE_BYTES), 1 + 2 * KEY_BYTES + 8)
  const signature = sign(null, signedMessage(body), signer.privateKey)
  return Buffer.concat([body, signature])
}

/** Keeps the client's current token for one connection, minting a new one when it gets old. */
export class CallerTokenSource {
  private token: Buffer | undefined
  private mintedAtMs = 0

  constructor(
    private readonly signer: TokenSigner,
    private readonly server: PeerId
  ) {}

  /** The token to send with a call made at `nowMs`. */
  current(nowMs: number): Buffer {
    if (this.token === undefined || nowMs - this.mintedAtMs >= TOKEN_REFRESH_MS || nowMs < this.mintedAtMs) {
      this.token = mintCallerToken(this.signer, this.server, nowMs)
      this.mintedAtMs = nowMs
    }
    return this.token
  }
}

interface Remembered {
  readonly caller: PeerId
  readonly connection: string
  readonly timestampMs: number
}

/**
 * The server side: verifies tokens and remembers them per connection. Used synchronously from gRPC
 * callbacks, so its state is a plain Map private to it.
 */
export class CallerTokenVerifier {
  private readonly remembered = new Map<string, Remembered>()

  constructor(private readonly localPeerId: PeerId) {}

  /** The authenticated caller of a call that came on `connection` with `token`, or why it is refused. */
  verify(token: Uint8Array | undefined, connection: string, nowMs: number): Either.Either<PeerId, string> {
    if (token === undefined) return Either.left("no caller token")
    if (token.length !== TOKEN_BYTES || token[0] !== VERSION) return Either.left("malformed caller token")
    const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength)
    const timestampMs = Number(bytes.readBigUInt64BE(1 + 2 * KEY_BYTES))
    if (Math.abs(nowMs - timestampMs) > TOKEN_MAX_AGE_MS) return Either.left("expired caller token")
    const key = bytes.toString("latin1")
    const known = this.remembered.get(key)
    if (known !== undefined) {
      return known.connection === connection ? Either.right(known.caller) : Either.left("replayed caller token (seen on another connection)")
    }
    if (bytes.toString("hex", 1 + KEY_BYTES, 1 + 2 * KEY_BYTES) !== this.localPeerId) return Either.left("caller token is for another server")
    const callerKey = bytes.subarray(1, 1 + KEY_BYTES)
    const caller = peerIdFromPublicKey(callerKey)
    if (caller === WELL_KNOWN_CA_PEER_ID) return Either.left("caller token signed by a public key")
    let valid = false
    try {
      valid = verify(null, signedMessage(bytes.subarray(0, SIGNED_BYTES)), ed25519PublicKey(callerKey), bytes.subarray(SIGNED_BYTES))
    } catch {
      valid = false // not a valid Ed25519 public key
    }
    if (!valid) return Either.left("caller token signature does not verify")
    if (this.remembered.size >= MAX_REMEMBERED_TOKENS) this.forgetExpired(nowMs)
    if (this.remembered.size >= MAX_REMEMBERED_TOKENS) return Either.left("too many live caller tokens; retry later")
    this.remembered.set(key, { caller, connection, timestampMs })
    return Either.right(caller)
  }

  private forgetExpired(nowMs: number): void {
    for (const [key, entry] of this.remembered) {
      if (Math.abs(nowMs - entry.timestampMs) > TOKEN_MAX_AGE_MS) this.remembered.delete(key)
    }
  }
}
