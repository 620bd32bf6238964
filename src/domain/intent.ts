/**
 * Intent prefixes (Sui/Soma-style domain separation): every signature is over
 * `[scope, version = 0, app = 0] || payload`, so a signature made for one purpose can never be replayed
 * as another. Better than Soma, whose NodeInfo signature carried no intent.
 */
import { concatBytes } from "./bytes.js"

/** What a signature is for. The numbers are part of the signed bytes and must never change. */
export const IntentScope = {
  TransactionData: 0,
  AuthorityCertificate: 1,
  ConsensusBlock: 2,
  DiscoveryPeers: 3,
  EpochChange: 4,
  /** Proof of a network identity on an authenticated connection (used by the transport). */
  PeerAuthentication: 5,
  /** An authority's BLS key signing itself and its network key: no rogue-key aggregation (DESIGN.md §3). */
  ProofOfPossession: 6
} as const
export type IntentScope = (typeof IntentScope)[keyof typeof IntentScope]

const INTENT_VERSION = 0
const INTENT_APP_ID = 0

/** The 3-byte intent prefix of a scope. */
export const intentPrefix = (scope: IntentScope): Uint8Array => Uint8Array.of(scope, INTENT_VERSION, INTENT_APP_ID)

/** The bytes that are actually signed: `intent || payload`. */
export const intentMessage = (scope: IntentScope, ...payload: ReadonlyArray<Uint8Array>): Uint8Array =>
  concatBytes(intentPrefix(scope), ...payload)
