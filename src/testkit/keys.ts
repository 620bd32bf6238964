/**
 * Deterministic Ed25519 and BLS12-381 keys and synchronous signers for the chain generator, the devnet
 * and benchmarks. Ed25519 signatures are deterministic (RFC 8032), so signing here with OpenSSL gives the
 * same bytes as any other correct implementation.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto"
import { SecretKey } from "@chainsafe/blst"
import { blake2b256 } from "../domain/hash.js"

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

/** The order r of the BLS12-381 groups: secret keys are scalars mod r. */
const BLS_GROUP_ORDER = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n

const bigIntOfBytes = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString("hex")}`)
const bytes32OfBigInt = (value: bigint): Uint8Array => Uint8Array.from(Buffer.from(value.toString(16).padStart(64, "0"), "hex"))

/**
 * A BLS12-381 (min-pk, POP ciphersuite) key that signs synchronously with native blst. Deterministic:
 * the key is the IETF KeyGen of the seed, and BLS signatures are deterministic.
 */
export class BlsTestSigner {
  readonly publicKey: Uint8Array
  /** The secret scalar, for `aggregateSign`. */
  readonly scalar: bigint
  private readonly key: SecretKey

  constructor(seed: Uint8Array) {
    this.key = SecretKey.fromKeygen(seed)
    this.publicKey = this.key.toPublicKey().toBytes(true)
    this.scalar = bigIntOfBytes(this.key.toBytes())
  }

  /** The 96-byte signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return this.key.sign(message).toBytes(true)
  }
}

/**
 * The aggregate of the signatures of `signers` over ONE message, with one signing instead of one per
 * signer: BLS signatures are linear in the key, so Σ sign(skᵢ, m) = sign(Σ skᵢ mod r, m). It is
 * byte-for-byte the aggregate a verifier would get by adding the individual signatures.
 */
export const aggregateSign = (signers: ReadonlyArray<BlsTestSigner>, message: Uint8Array): Uint8Array => {
  let sum = 0n
  for (const s of signers) sum += s.scalar
  sum %= BLS_GROUP_ORDER
  // A sum of 0 mod r would be the infinity signature; with keys from KeyGen the chance is ≈ 2^-255.
  if (sum === 0n) throw new RangeError("aggregate secret key is zero")
  return SecretKey.fromBytes(bytes32OfBigInt(sum)).sign(message).toBytes(true)
}
