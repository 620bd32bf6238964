/**
 * Pure transitions of the ledger's connection state and the dial plan. Disconnected peers are kept (marked with
 * the time they went away) and redialled after a capped exponential backoff; a round dials only
 * `target − connected − dialling` peers, chosen by rank; seeds and allowlisted peers are dialled
 * whenever the node has no connection; and, at target, a round occasionally rotates one connection to
 * a random peer (see `planDials`).
 */
import { HashMap, Option } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { PeerChange, type DialOrder, type DialPlanRequest, type PeerRecord } from "../../services/PeerManager.js"
import { chooseConfirmationDials } from "./confirmations.js"
import { chooseFeelers } from "./feelers.js"
import { chooseLearningDials } from "./learning.js"
import { judgeIntroducer, judgeIntroduction } from "./introductions.js"
import { PROBATION_ROTATION_SHARE } from "./policy.js"
import { chooseProbationDials, type ProbationEntry } from "./probation.js"
import type { Rng } from "./prng.js"
import { chooseDials, chooseExploration, dialAddress, isConnectedOrDialling, sortedRecords } from "./ranking.js"
import { isBannedAt, recordFailure, recordSuccess } from "./reputation.js"
import { promoteFromProbation, recordOf, reportOffence, unchanged, updateRecord, type PeerTable, type Transition } from "./table.js"

/** When the record last lost (or never had) a connection. */
const disconnectedSince = (record: PeerRecord, nowMs: number): number | undefined => {
  switch (record.connection._tag) {
    case "Connected":
      return nowMs
    case "Dialling":
      return record.connection.disconnectedSinceMs
    case "Disconnected":
      return record.connection.sinceMs
  }
}

/** A dial of `peerId` started. */
export const markDialling = (table: PeerTable, peerId: PeerId, nowMs: number): PeerTable =>
  updateRecord(table, peerId, (r) =>
    r.connection._tag === "Connected" ? r : { ...r, connection: { _tag: "Dialling", sinceMs: nowMs, disconnectedSinceMs: disconnectedSince(r, nowMs) } }
  )

/** `peerId` is connected at `address` (from a dial or a network event). */
export const peerConnected = (table: PeerTable, peerId: PeerId, address: string, nowMs: number): Transition<void> => {
  if (peerId === table.self) return unchanged(table, undefined)
  const before = recordOf(table, peerId)
  if (before?.connection._tag === "Connected") return unchanged(table, undefined)
  const next = updateRecord(table, peerId, (r) => ({ ...r, connection: { _tag: "Connected", sinceMs: nowMs, address } }))
  return { table: next, changes: [PeerChange.PeerConnected({ peerId, address })], value: undefined }
}

/** Our connection to `peerId` ended (the record is kept, marked with the time). */
export const peerDisconnected = (table: PeerTable, peerId: PeerId, nowMs: number): Transition<void> => {
  const before = recordOf(table, peerId)
  if (before === undefined || before.connection._tag !== "Connected") return unchanged(table, undefined)
  const next = updateRecord(table, peerId, (r) => ({ ...r, connection: { _tag: "Disconnected", sinceMs: nowMs } }))
  return { table: next, changes: [PeerChange.PeerDisconnected({ peerId })], value: undefined }
}

/**
 * A dial succeeded after `rttMs` (one handshake round trip): a peer on probation is promoted to the
 * table (it is real), and a first dial is credited to the peer's introducer — unless it was a
 * confirmation dial (`ProbationEntry.confirming`).
 */
export const dialSucceeded = (table: PeerTable, peerId: PeerId, address: string, rttMs: number, nowMs: number): Transition<void> => {
  const confirming = Option.getOrUndefined(HashMap.get(table.probation, peerId))?.confirming === true
  const promoted = promoteFromProbation(table, peerId)
  const judged = confirming ? unchanged(promoted.table, false) : judgeIntroduction(promoted.table, peerId, true, nowMs)
  const connected = peerConnected(judged.table, peerId, address, nowMs)
  return {
    table: updateRecord(connected.table, peerId, (r) => recordSuccess(r, rttMs, table.policy), nowMs),
    changes: [...promoted.changes, ...judged.changes, ...connected.changes],
    value: undefined
  }
}

/**
 * A dial failed: back to disconnected, backoff, and the (fault) offence `Unavailable`; a first one is
 * charged to the peer's introducer (which may ban it: see `judgeIntroduction`).
 */
export const dialFailed = (table: PeerTable, peerId: PeerId, nowMs: number): Transition<boolean> => {
  const held = Option.getOrUndefined(HashMap.get(table.probation, peerId))
  if (held !== undefined) {
    // On probation: never reached, so forgotten, and charged to its introducer.
    const dropped = { ...table, probation: HashMap.remove(table.probation, peerId) }
    const judged = judgeIntroducer(dropped, held.introducedBy, false, nowMs)
    if (recordOf(judged.table, peerId) === undefined) return judged
    const rest = dialFailed(judged.table, peerId, nowMs)
    return { ...rest, changes: [...judged.changes, ...rest.changes], value: judged.value || rest.value }
  }
  const record = recordOf(table, peerId)
  if (record === undefined || record.connection._tag === "Connected") return unchanged(table, false)
  const judged = judgeIntroduction(table, peerId, false, nowMs)
  const failed = updateRecord(judged.table, peerId, (r) => ({
    ...recordFailure(r, nowMs, table.policy),
    connection: { _tag: "Disconnected", sinceMs: disconnectedSince(r, nowMs) }
  }))
  const charged = reportOffence(failed, peerId, "Unavailable", nowMs)
  return { ...charged, changes: [...judged.changes, ...charged.changes] }
}

/**
 * Brings the table in line with the network's list of connections (events can be dropped by a lagging
 * subscription): listed peers are connected, other "connected" records are disconnected.
 */
export const reconcileConnections = (table: PeerTable, connected: ReadonlyArray<PeerId>, nowMs: number): Transition<void> => {
  const listed = new Set(connected)
  const changes: Array<PeerChange> = []
  let current = table
  for (const record of sortedRecords(table)) {
    if (record.connection._tag === "Connected" && !listed.has(record.peerId)) {
      const step = peerDisconnected(current, record.peerId, nowMs)
      current = step.table
      changes.push(...step.changes)
    }
  }
  for (const peerId of [...listed].sort()) {
    const record = recordOf(current, peerId)
    if (record?.connection._tag === "Connected") continue
    const address = record === undefined ? "" : (dialAddress(record) ?? "")
    const step = peerConnected(current, peerId, address, nowMs)
    current = step.table
    changes.push(...step.changes)
  }
  return { table: current, changes, value: undefined }
}

/** Inputs of a dial plan: the request, with its seed turned into a generator. */
export interface DialPlanInput extends Omit<DialPlanRequest, "seed"> {
  readonly rng: Rng
}

/** Peers on probation that may be dialled: introduced by a peer that is not banned now. */
const probationDials = (table: PeerTable, nowMs: number, count: number, rng: Rng, exclude: ReadonlySet<PeerId>): Array<ProbationEntry> =>
  chooseProbationDials(
    table.probation,
    count,
    rng,
    (introducer) => {
      const record = recordOf(table, introducer)
      return record === undefined || !isBannedAt(record, nowMs)
    },
    exclude
  )

/**
 * Chooses this round's dials and marks them as dialling:
 * - no connection at all: every seed and allowlisted peer that is not banned, connected or being
 *   dialled (backoff ignored — they are how an isolated node gets back in);
 * - then the best-ranked eligible peers, `target − connected − dialling` of them (seed dials count),
 *   and when the table has too few, peers on probation chosen at random (a dial is how they prove real);
 * - at target with nothing in flight, with probability `rotationProbability`, one uniformly random
 *   eligible peer ("Rotate"): the loop drops the worst connection once it is up. Without it, two
 *   halves of a healed partition that each filled their connections among themselves would never
 *   connect again. With probability `PROBATION_ROTATION_SHARE` (when any is waiting) the rotation
 *   tries a peer on probation instead, so a node at target still tests what it was told;
 * - with at least one connection, `feelersPerRound` feelers (`feelers.ts`): untested introductions,
 *   dialled to judge their introducers (the caller drops them after one query if above target), and
 *   `learningDialsPerRound` learning dials (`learning.ts`): credible peers we are not connected to,
 *   asked once (dropped likewise), and `confirmationDialsPerRound` confirmation dials
 *   (`confirmations.ts`): probation entries several believed voices reported, dialled, not queried.
 */
export const planDials = (table: PeerTable, nowMs: number, input: DialPlanInput): Transition<ReadonlyArray<DialOrder>> => {
  const records = sortedRecords(table)
  let probationDialling = 0
  for (const entry of HashMap.values(table.probation)) if (entry.diallingSinceMs !== undefined) probationDialling += 1
  const dialling = records.filter((r) => r.connection._tag === "Dialling").length + probationDialling
  const orders: Array<DialOrder> = []
  const fromProbation = new Set<PeerId>()
  if (input.connectedCount === 0) {
    for (const r of records) {
      const address = dialAddress(r)
      if ((r.seed || r.allowlisted) && !isConnectedOrDialling(r) && !isBannedAt(r, nowMs) && address !== undefined) {
        orders.push({ peerId: r.peerId, address, purpose: "Seed" })
      }
    }
  }
  const fill = input.target - input.connectedCount - dialling - orders.length
  const chosen = new Set(orders.map((o) => o.peerId))
  for (const r of chooseDials(table, nowMs, fill, input.wanted, input.rng, chosen)) {
    orders.push({ peerId: r.peerId, address: dialAddress(r) ?? "", purpose: "Fill" })
  }
  const missing = fill - (orders.length - chosen.size)
  for (const e of probationDials(table, nowMs, missing, input.rng, chosen)) {
    orders.push({ peerId: e.info.info.peerId, address: e.info.info.addresses[0] ?? "", purpose: "Fill" })
    fromProbation.add(e.info.info.peerId)
  }
  if (orders.length === 0 && dialling === 0 && input.connectedCount >= input.target && input.rng() < input.rotationProbability) {
    const probe =
      HashMap.size(table.probation) > 0 && input.rng() < PROBATION_ROTATION_SHARE ? probationDials(table, nowMs, 1, input.rng, chosen)[0] : undefined
    if (probe !== undefined) {
      orders.push({ peerId: probe.info.info.peerId, address: probe.info.info.addresses[0] ?? "", purpose: "Rotate" })
      fromProbation.add(probe.info.info.peerId)
    } else {
      const explore = chooseExploration(table, nowMs, input.rng)
      const address = explore === undefined ? undefined : dialAddress(explore)
      if (explore !== undefined && address !== undefined) orders.push({ peerId: explore.peerId, address, purpose: "Rotate" })
    }
  }
  if (input.connectedCount > 0) {
    const taken = new Set(orders.map((o) => o.peerId))
    for (const feeler of chooseFeelers(table, nowMs, table.policy.feelersPerRound, input.rng, taken)) {
      orders.push({ peerId: feeler.peerId, address: feeler.address, purpose: "Feeler" })
      if (feeler.onProbation) fromProbation.add(feeler.peerId)
    }
    for (const learn of chooseLearningDials(table, nowMs, table.policy.learningDialsPerRound, input.rng, new Set(orders.map((o) => o.peerId)))) {
      orders.push({ peerId: learn.peerId, address: learn.address, purpose: "Learn" })
    }
    for (const confirm of chooseConfirmationDials(table, nowMs, table.policy.confirmationDialsPerRound, input.rng, new Set(orders.map((o) => o.peerId)))) {
      orders.push({ peerId: confirm.peerId, address: confirm.address, purpose: "Confirm" })
      fromProbation.add(confirm.peerId)
    }
  }
  const next = orders.reduce(
    (t, o) =>
      fromProbation.has(o.peerId)
        ? {
            ...t,
            probation: HashMap.modify(t.probation, o.peerId, (e) => (o.purpose === "Confirm" ? { ...e, diallingSinceMs: nowMs, confirming: true as const } : { ...e, diallingSinceMs: nowMs }))
          }
        : markDialling(t, o.peerId, nowMs),
    table
  )
  return unchanged(next, orders)
}

/** Peers we are connected to (in the table's view) that are banned now: the loop hangs up on them. */
export const bannedConnections = (table: PeerTable, nowMs: number): Array<PeerId> =>
  Array.from(HashMap.values(table.peers))
    .filter((r) => r.connection._tag === "Connected" && isBannedAt(r, nowMs))
    .map((r) => r.peerId)
    .sort()
