/**
 * Attackers that pose as peers: a fresh identity with its own gRPC server (the project's
 * `GrpcNetworkLayer`, mutual TLS, no server limits — an attacker answers as it likes), a signed
 * NodeInfo, and the way it gets the victim to dial it: it calls the victim's GetKnownPeers with its
 * own info, which the victim verifies and stores, and the victim's discovery dials known peers while
 * it is below its target connections.
 */
import { Effect, type Scope } from "effect"
import { Capability, encodeSignedNodeInfo, nodeInfoSigningMessage, type NodeInfo } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import { makeGrpcNetwork } from "../../layers/network/grpc/GrpcNetworkLayer.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type { CallError, DialError, ListenFailed, NetworkService } from "../../services/Network.js"
import type { AttackerIdentity, FakePeer } from "./identity.js"

/** Deadline of the attacker's own calls. */
const CALL_TIMEOUT_MS = 5_000

/** The BCS SignedNodeInfo of `identity` advertising `addresses`, signed now. */
export const signedNodeInfo = (identity: FakePeer, addresses: ReadonlyArray<string>): Uint8Array => {
  const info: NodeInfo = {
    peerId: identity.peerId,
    addresses: [...addresses],
    timestampMs: Date.now(),
    role: "FullNode",
    capabilities: Capability.ServesStateSync | Capability.Archival
  }
  return encodeSignedNodeInfo({ info, signature: identity.signer.sign(nodeInfoSigningMessage(info)) })
}

/** A listening network of `identity` on loopback, for the life of the scope. */
export const attackerNetwork = (identity: AttackerIdentity): Effect.Effect<NetworkService, ListenFailed, Scope.Scope> =>
  makeGrpcNetwork({ keypair: identity.keypair, listenAddress: "127.0.0.1:0" })

/** Tells the victim about `identity` at `address`: dials it and calls its GetKnownPeers with our signed info. */
export const announce = (
  network: NetworkService,
  identity: AttackerIdentity,
  victim: { readonly address: string; readonly peerId: PeerId },
  address: string
): Effect.Effect<number, DialError | CallError> =>
  Effect.gen(function* () {
    yield* network.dial(victim.peerId, victim.address)
    const answer = yield* network.call(victim.peerId, P2pMethods.GetKnownPeers, { ownInfo: signedNodeInfo(identity, [address]) }, { timeout: CALL_TIMEOUT_MS })
    return answer.knownPeers.length
  })
