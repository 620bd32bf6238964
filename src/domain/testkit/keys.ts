/**
 * Deterministic Ed25519 keys and a synchronous signer for the chain generator, the devnet and
 * benchmarks. Ed25519 signatures are deterministic (RFC 8032), so signing here with OpenSSL gives the
 * same bytes as any other correct implementation.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto"
import { blake2b256 } from "../hash.js"

// PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")
// SPKI DER encodings of Ed25519 public keys end with the 32 raw key bytes.
const RAW_PUBLIC_KEY_BYTES = 32

/** A key pair that signs synchronously (OpenSSL). */
export class TestSigner {
  readonly publicKey: Uint8Array
  private readonly key: KeyObject

  constructor(readonly seed: Uint8Array) {
    if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes")
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" })
    const spki = createPublicKey(this.key).export({ format: "der", type: "spki" })
    this.publicKey = new Uint8Array(spki.subarray(spki.length - RAW_PUBLIC_KEY_BYTES))
  }

  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.key))
  }
}

/** A 32-byte seed derived from a label and numbers, e.g. `deriveSeed("protocol", chainSeed, epoch, index)`. */
export const deriveSeed = (label: string, ...parts: ReadonlyArray<number>): Uint8Array =>
  blake2b256(new TextEncoder().encode(`soma-p2p/testkit/${label}/${parts.join("/")}`))
