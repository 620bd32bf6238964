/**
 * Network conditions of the simulated world as pure data and pure functions: per-link latency and
 * loss, partitions, slow peers, and the time a message takes. The world (`SimNetwork.ts`) keeps them
 * in a `Ref` and applies these functions; tests can check them directly.
 */
import { HashMap, Option } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"

/** How messages between two peers travel. */
export interface LinkConditions {
  /** One-way latency in milliseconds. */
  readonly latencyMs: number
  /** Probability in [0, 1] that a message is lost; a lost message stalls its call until its deadline. */
  readonly lossProbability: number
}

/** How one peer misbehaves or lags. */
export interface PeerConditions {
  /** Multiplies the latency of every message to or from the peer (1 = normal). */
  readonly latencyMultiplier: number
  /** The peer's upload bandwidth; its messages queue behind each other. `Infinity` = unlimited. */
  readonly uploadBytesPerSecond: number
  /** When set, the peer breaks a caller's connection after sending this many messages of one stream. */
  readonly disconnectAfterStreamMessages: number | undefined
}

/** Default conditions of a peer. */
export const NORMAL_PEER: PeerConditions = { latencyMultiplier: 1, uploadBytesPerSecond: Infinity, disconnectAfterStreamMessages: undefined }

/** Conditions of the whole world. */
export interface Conditions {
  readonly defaultLink: LinkConditions
  /** Overrides per unordered pair of peers (`linkKey`). */
  readonly links: HashMap.HashMap<string, LinkConditions>
  readonly peers: HashMap.HashMap<PeerId, PeerConditions>
  /** Group of each peer while partitioned (unlisted peers are in group 0); `undefined` when whole. */
  readonly partition: HashMap.HashMap<PeerId, number> | undefined
}

/** The key of the unordered pair {a, b}. */
export const linkKey = (a: PeerId, b: PeerId): string => (a < b ? `${a}|${b}` : `${b}|${a}`)

/** The link conditions between `a` and `b`. */
export const linkBetween = (conditions: Conditions, a: PeerId, b: PeerId): LinkConditions =>
  Option.getOrElse(HashMap.get(conditions.links, linkKey(a, b)), () => conditions.defaultLink)

/** The conditions of one peer. */
export const peerConditions = (conditions: Conditions, peerId: PeerId): PeerConditions =>
  Option.getOrElse(HashMap.get(conditions.peers, peerId), () => NORMAL_PEER)

const groupOf = (partition: HashMap.HashMap<PeerId, number>, peerId: PeerId): number =>
  Option.getOrElse(HashMap.get(partition, peerId), () => 0)

/** Whether a partition separates `a` from `b`. */
export const partitioned = (conditions: Conditions, a: PeerId, b: PeerId): boolean =>
  conditions.partition !== undefined && groupOf(conditions.partition, a) !== groupOf(conditions.partition, b)

/** The partition that puts each listed group apart (group i+1) from everyone unlisted (group 0). */
export const partitionOf = (groups: ReadonlyArray<ReadonlyArray<PeerId>>): HashMap.HashMap<PeerId, number> =>
  HashMap.fromIterable(groups.flatMap((group, index) => group.map((peerId) => [peerId, index + 1] as const)))

/**
 * When a message of `bytes` sent at `nowMs` from `from` to `to` arrives, given when the sender's
 * upload is free: returns the arrival time and the sender's new "upload busy until".
 */
export const arrivalTime = (
  conditions: Conditions,
  from: PeerId,
  to: PeerId,
  bytes: number,
  nowMs: number,
  uploadBusyUntilMs: number
): { readonly arriveAtMs: number; readonly uploadBusyUntilMs: number } => {
  const sender = peerConditions(conditions, from)
  const receiver = peerConditions(conditions, to)
  const start = Math.max(nowMs, uploadBusyUntilMs)
  const transferMs = Number.isFinite(sender.uploadBytesPerSecond) ? (bytes * 1000) / sender.uploadBytesPerSecond : 0
  const latencyMs = linkBetween(conditions, from, to).latencyMs * sender.latencyMultiplier * receiver.latencyMultiplier
  const sent = start + transferMs
  return { arriveAtMs: Math.ceil(sent + latencyMs), uploadBusyUntilMs: sent }
}
