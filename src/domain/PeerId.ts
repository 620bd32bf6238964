/**
 * `PeerId`: the identity of a node on the network — its Ed25519 network public key (32 bytes). It is
 * carried as lowercase hex so it can key maps and appear in logs and config; `peerIdBytes` gives the key.
 */
import { Schema } from "effect"

const PEER_ID_PATTERN = /^[0-9a-f]{64}$/

/** 64 lowercase hex characters = the 32-byte Ed25519 network public key. */
export const PeerId = Schema.String.pipe(
  Schema.pattern(PEER_ID_PATTERN, { message: () => "a PeerId is 64 lowercase hex characters (a 32-byte Ed25519 public key)" }),
  Schema.brand("PeerId")
)
export type PeerId = typeof PeerId.Type

/** The PeerId of a 32-byte network public key. */
export const peerIdFromPublicKey = (publicKey: Uint8Array): PeerId => {
  if (publicKey.length !== 32) throw new RangeError(`a network public key is 32 bytes, got ${publicKey.length}`)
  return Buffer.from(publicKey).toString("hex") as PeerId
}

/** The 32-byte network public key a PeerId stands for. */
export const peerIdBytes = (peerId: PeerId): Uint8Array => new Uint8Array(Buffer.from(peerId, "hex"))

/** A short form for logs: the first 8 hex characters. */
export const shortPeerId = (peerId: PeerId): string => peerId.slice(0, 8)

/** Whether a string is a well-formed PeerId (for untrusted input). */
export const isPeerId = (value: string): value is PeerId => PEER_ID_PATTERN.test(value)
