/**
 * X.509 certificates that carry a node's Ed25519 network key, built from the key alone (no library,
 * no randomness: the same key always gives the same certificate bytes).
 *
 * Every node certificate is issued by a *well-known* CA whose private key is public (derived from a
 * fixed label below). The CA proves nothing and is not meant to: it exists only so that OpenSSL's
 * chain check passes for any node, which makes Node call our `checkServerIdentity` on the client and
 * mark the socket `authorized` on the server (grpc-js only exposes the client certificate then). The
 * identity is the leaf certificate's public key, which the TLS handshake (CertificateVerify) proves
 * the peer holds. Since anyone can use the CA key, the CA's own public key is never accepted as a
 * PeerId (`WELL_KNOWN_CA_PEER_ID`).
 */
import { createHash, createPrivateKey, createPublicKey, sign, X509Certificate, type KeyObject } from "node:crypto"
import { isPeerId, peerIdFromPublicKey, type PeerId } from "../../../domain/PeerId.js"

// PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")
// SPKI DER header of an Ed25519 public key; the 32 raw key bytes follow it.
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
// Label of the well-known CA seed. Changing it changes every certificate: it is part of the protocol.
const WELL_KNOWN_CA_LABEL = "soma-p2p/v1/well-known-tls-ca"
// A fixed validity keeps certificates deterministic; 9999-12-31 is RFC 5280's "no expiration".
const NOT_BEFORE = "200101000000Z" // UTCTime 2020-01-01
const NOT_AFTER = "99991231235959Z" // GeneralizedTime
/** The DNS name in every node certificate (for generic tools: `grpcurl -authority p2p`). */
export const CERTIFICATE_HOSTNAME = "p2p"

// --- minimal DER writer (definite lengths only) ---
const tlv = (tag: number, content: Buffer): Buffer => {
  const n = content.length
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), length, content])
}
const seq = (...parts: ReadonlyArray<Buffer>) => tlv(0x30, Buffer.concat(parts))
const set = (...parts: ReadonlyArray<Buffer>) => tlv(0x31, Buffer.concat(parts))
const positiveInteger = (bytes: Buffer) => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
const bitString = (bytes: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]))
const octetString = (bytes: Buffer) => tlv(0x04, bytes)
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, "hex"))
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, "utf8"))
const TRUE = Buffer.from([0x01, 0x01, 0xff])

const OID_ED25519 = oid("2b6570") // 1.3.101.112
const OID_COMMON_NAME = oid("550403") // 2.5.4.3
const OID_BASIC_CONSTRAINTS = oid("551d13") // 2.5.29.19
const OID_KEY_USAGE = oid("551d0f") // 2.5.29.15
const OID_EXT_KEY_USAGE = oid("551d25") // 2.5.29.37
const OID_SUBJECT_ALT_NAME = oid("551d11") // 2.5.29.17
const OID_SERVER_AUTH = oid("2b06010505070301") // 1.3.6.1.5.5.7.3.1
const OID_CLIENT_AUTH = oid("2b06010505070302") // 1.3.6.1.5.5.7.3.2

const ED25519_ALGORITHM = seq(OID_ED25519)
const name = (commonName: string) => seq(set(seq(OID_COMMON_NAME, utf8(commonName))))
const extension = (id: Buffer, critical: boolean, value: Buffer) =>
  critical ? seq(id, TRUE, octetString(value)) : seq(id, octetString(value))

const CA_NAME = name("soma-p2p well-known CA")
const CA_EXTENSIONS = [
  extension(OID_BASIC_CONSTRAINTS, true, seq(TRUE)),
  extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x04]), 2)) // keyCertSign
]
const NODE_EXTENSIONS = [
  extension(OID_BASIC_CONSTRAINTS, true, seq()),
  extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
  extension(OID_EXT_KEY_USAGE, false, seq(OID_SERVER_AUTH, OID_CLIENT_AUTH)),
  extension(OID_SUBJECT_ALT_NAME, false, seq(tlv(0x82, Buffer.from(CERTIFICATE_HOSTNAME, "ascii"))))
]

/** The private key object of a 32-byte Ed25519 seed. */
export const ed25519PrivateKey = (seed: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" })

/** The public key object of a 32-byte Ed25519 public key. */
export const ed25519PublicKey = (publicKey: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: "der", type: "spki" })

const rawPublicKey = (key: KeyObject): Buffer => {
  const spki = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" })
  return spki.subarray(spki.length - 32)
}

const toPem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`

const certificate = (options: {
  readonly serial: Buffer
  readonly issuer: Buffer
  readonly subject: Buffer
  readonly subjectPublicKey: Uint8Array
  readonly extensions: ReadonlyArray<Buffer>
  readonly issuerKey: KeyObject
}): Buffer => {
  const tbs = seq(
    tlv(0xa0, positiveInteger(Buffer.from([2]))), // v3
    positiveInteger(options.serial),
    ED25519_ALGORITHM,
    options.issuer,
    seq(tlv(0x17, Buffer.from(NOT_BEFORE, "ascii")), tlv(0x18, Buffer.from(NOT_AFTER, "ascii"))),
    options.subject,
    seq(ED25519_ALGORITHM, bitString(Buffer.from(options.subjectPublicKey))),
    tlv(0xa3, seq(...options.extensions))
  )
  return seq(tbs, ED25519_ALGORITHM, bitString(sign(null, tbs, options.issuerKey)))
}

const caKey = ed25519PrivateKey(createHash("sha256").update(WELL_KNOWN_CA_LABEL).digest())
const caPublicKey = rawPublicKey(caKey)

/** PEM of the well-known CA certificate that every node trusts (and that proves nothing by itself). */
export const WELL_KNOWN_CA_PEM: string = toPem(
  "CERTIFICATE",
  certificate({ serial: Buffer.from([1]), issuer: CA_NAME, subject: CA_NAME, subjectPublicKey: caPublicKey, extensions: CA_EXTENSIONS, issuerKey: caKey })
)

/** The PeerId of the well-known CA key; its private key is public, so it is never a valid identity. */
export const WELL_KNOWN_CA_PEER_ID: PeerId = peerIdFromPublicKey(caPublicKey)

/** A node's TLS identity: its certificate (issued by the well-known CA) and private key, as PEM. */
export interface NodeCertificate {
  readonly certificatePem: string
  readonly privateKeyPem: string
}

/** The certificate of a node's network key pair (deterministic). */
export const nodeCertificate = (keypair: { readonly seed: Uint8Array; readonly publicKey: Uint8Array }): NodeCertificate => {
  const privateKey = ed25519PrivateKey(keypair.seed)
  const publicKey = rawPublicKey(privateKey)
  if (!publicKey.equals(Buffer.from(keypair.publicKey))) {
    throw new Error("network keypair: the public key does not belong to the seed")
  }
  const peerId = peerIdFromPublicKey(publicKey)
  const der = certificate({
    serial: publicKey.subarray(0, 16),
    issuer: CA_NAME,
    subject: name(`soma-p2p node ${peerId}`),
    subjectPublicKey: publicKey,
    extensions: NODE_EXTENSIONS,
    issuerKey: caKey
  })
  return { certificatePem: toPem("CERTIFICATE", der), privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString() }
}

/**
 * The PeerId that a DER certificate's Ed25519 key stands for, or `undefined` when the certificate is
 * unreadable, its key is not Ed25519, or it is the well-known CA key.
 */
export const peerIdOfCertificate = (der: Buffer): PeerId | undefined => {
  try {
    const key = new X509Certificate(der).publicKey
    if (key.asymmetricKeyType !== "ed25519") return undefined
    const peerId = rawPublicKey(key).toString("hex")
    return isPeerId(peerId) && peerId !== WELL_KNOWN_CA_PEER_ID ? peerId : undefined
  } catch {
    return undefined
  }
}
