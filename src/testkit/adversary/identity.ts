/**
 * Identities for attackers: identities are free on a peer-to-peer network, so every attacker makes
 * fresh Ed25519 network keys (random, not derived) and the TLS certificate that carries them — the
 * same well-known-CA certificates honest nodes present, so the victim authenticates each one as a
 * distinct peer.
 */
import { randomBytes } from "node:crypto"
import { peerIdFromPublicKey, type PeerId } from "../../domain/PeerId.js"
import { nodeCertificate, type NodeCertificate } from "../../layers/network/grpc/certificate.js"
import { TestSigner } from "../keys.js"

/** A fresh network identity: its key pair, PeerId, TLS certificate and a synchronous signer. */
export interface AttackerIdentity {
  readonly signer: TestSigner
  readonly keypair: { readonly seed: Uint8Array; readonly publicKey: Uint8Array }
  readonly peerId: PeerId
  readonly certificate: NodeCertificate
}

/** A fresh key that only signs (no certificate: it never connects), e.g. a fake peer in a Sybil answer. */
export interface FakePeer {
  readonly signer: TestSigner
  readonly peerId: PeerId
}

/** Makes a fresh signing key from random bytes. */
export const freshFakePeer = (): FakePeer => {
  const signer = new TestSigner(new Uint8Array(randomBytes(32)))
  return { signer, peerId: peerIdFromPublicKey(signer.publicKey) }
}

/** Makes a fresh identity from random bytes. */
export const freshIdentity = (): AttackerIdentity => {
  const { signer, peerId } = freshFakePeer()
  const keypair = { seed: signer.seed, publicKey: signer.publicKey }
  return { signer, keypair, peerId, certificate: nodeCertificate(keypair) }
}
