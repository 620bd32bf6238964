/**
 * The caller token of plaintext mode: without TLS there is no client certificate, so each call carries
 * in metadata a token signed by the caller's network key over `intent(PeerAuthentication) || body`,
 * the body binding (caller key, server key, timestamp, nonce). The server verifies a token once, then remembers it for
 * the connection it first arrived on: the same token on another connection is a replay, a token older
 * than `TOKEN_MAX_AGE_MS` is expired, a token for another server is refused. The client mints a fresh
 * token every `TOKEN_REFRESH_MS`. (In TLS mode the identity comes from the client certificate instead.)
 *
 * This module is the token format and the client side; `callerTokenVerifier.ts` is the server side.
 */
import { randomBytes, sign, type KeyObject } from "node:crypto"
import { Either } from "effect"
import { intentMessage, IntentScope } from "../../../domain/intent.js"
import type { PeerId } from "../../../domain/PeerId.js"

/** Metadata key of the token (`-bin`: binary metadata). */
export const CALLER_TOKEN_METADATA_KEY = "soma-caller-token-bin"
/** A token is accepted within this distance of the server's clock (either way), the discovery skew bound. */
export const TOKEN_MAX_AGE_MS = 30_000
/** The client replaces its token this often, so a token in use is never near its expiry. */
export const TOKEN_REFRESH_MS = 10_000

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

/** The fields of a well-formed token (see `parseCallerToken`). */
export interface ParsedCallerToken {
  /** The token's bytes as a map key (latin1: one char per byte). */
  readonly id: string
  readonly callerKey: Uint8Array
  /** The server the token is for, as a PeerId (hex of its key). */
  readonly server: string
  readonly timestampMs: number
  /** What the signature must cover. */
  readonly signed: Uint8Array
  readonly signature: Uint8Array
}

/** Splits a token into its fields, or says why it is malformed. No cryptography here. */
export const parseCallerToken = (token: Uint8Array): Either.Either<ParsedCallerToken, string> => {
  if (token.length !== TOKEN_BYTES || token[0] !== VERSION) return Either.left("malformed caller token")
  const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength)
  return Either.right({
    id: bytes.toString("latin1"),
    callerKey: bytes.subarray(1, 1 + KEY_BYTES),
    server: bytes.toString("hex", 1 + KEY_BYTES, 1 + 2 * KEY_BYTES),
    timestampMs: Number(bytes.readBigUInt64BE(1 + 2 * KEY_BYTES)),
    signed: signedMessage(bytes.subarray(0, SIGNED_BYTES)),
    signature: bytes.subarray(SIGNED_BYTES)
  })
}
