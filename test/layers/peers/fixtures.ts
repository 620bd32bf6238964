/** Peer tables for the pure tests of the peer ledger: node 0's, with the NodeInfos of `discovery/nodeInfos.ts`. */
import type { PeerId } from "../../../src/domain/PeerId.js"
import { CREDIBLE_STREAK, defaultPeerPolicy } from "../../../src/layers/peers/policy.js"
import { emptyTable, updateRecord, type PeerTable } from "../../../src/layers/peers/table.js"
import type { PeerPolicy } from "../../../src/services/PeerManager.js"
import { peerOf } from "../discovery/nodeInfos.js"

/** The table of node 0 with a policy override. */
export const tableOf = (policy: Partial<PeerPolicy> = {}): PeerTable => emptyTable(peerOf(0), { ...defaultPeerPolicy, ...policy })

/**
 * `table` with `introducer` credible: as if the last `CREDIBLE_STREAK` peers it introduced had been
 * reached by dials (only a credible introducer's word promotes a peer from probation).
 */
export const withCredibleIntroducer = (table: PeerTable, introducer: PeerId, nowMs: number): PeerTable =>
  updateRecord(table, introducer, (r) => ({ ...r, introductions: { ...r.introductions, connected: CREDIBLE_STREAK, streak: CREDIBLE_STREAK } }), nowMs)
