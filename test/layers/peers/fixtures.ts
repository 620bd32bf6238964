/** Peer tables for the pure tests of the peer ledger: node 0's, with the NodeInfos of `discovery/nodeInfos.ts`. */
import { defaultPeerPolicy } from "../../../src/layers/peers/policy.js"
import { emptyTable, type PeerTable } from "../../../src/layers/peers/table.js"
import type { PeerPolicy } from "../../../src/services/PeerManager.js"
import { peerOf } from "../discovery/nodeInfos.js"

/** The table of node 0 with a policy override. */
export const tableOf = (policy: Partial<PeerPolicy> = {}): PeerTable => emptyTable(peerOf(0), { ...defaultPeerPolicy, ...policy })
