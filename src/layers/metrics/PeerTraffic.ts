/**
 * Per-peer traffic of outbound RPCs (bytes received, failed calls), kept so that `/metrics` can list the
 * peers that matter without a series per peer ever seen: only the top `TOP_PEERS` of each figure are
 * exported. The table itself is bounded too: past `MAX_TRACKED_PEERS` the peer with the least traffic
 * is forgotten.
 */
import type { PeerId } from "../../domain/PeerId.js"

/** How many peers the table remembers: well above any connection limit, so eviction is rare. */
export const MAX_TRACKED_PEERS = 1_024

/** The figures of one peer since this process started (or since it was last evicted). */
export interface PeerFigures {
  readonly receivedBytes: number
  readonly failures: number
}

/** A peer's label value: the first 16 hex digits of its id (64 bits: unique in any real peer table). */
export const peerLabel = (peerId: PeerId): string => peerId.slice(0, 16)

/** The traffic table (mutable: updated on the call path, read at scrape). */
export class PeerTraffic {
  private readonly figures = new Map<PeerId, { receivedBytes: number; failures: number }>()

  private entry(peerId: PeerId): { receivedBytes: number; failures: number } {
    let entry = this.figures.get(peerId)
    if (entry === undefined) {
      if (this.figures.size >= MAX_TRACKED_PEERS) this.evictQuietest()
      entry = { receivedBytes: 0, failures: 0 }
      this.figures.set(peerId, entry)
    }
    return entry
  }

  private evictQuietest(): void {
    let quietest: PeerId | undefined
    let least = Number.POSITIVE_INFINITY
    for (const [peerId, entry] of this.figures) {
      const weight = entry.receivedBytes + entry.failures
      if (weight < least) [quietest, least] = [peerId, weight]
    }
    if (quietest !== undefined) this.figures.delete(quietest)
  }

  /** Counts response bytes received from `peerId`. */
  addReceivedBytes(peerId: PeerId, bytes: number): void {
    this.entry(peerId).receivedBytes += bytes
  }

  /** Counts one failed call to `peerId`. */
  addFailure(peerId: PeerId): void {
    this.entry(peerId).failures += 1
  }

  /** The `n` peers with the highest non-zero `figure`, highest first (ties by peer id, so stable). */
  top(n: number, figure: keyof PeerFigures): ReadonlyArray<readonly [PeerId, number]> {
    return [...this.figures]
      .filter(([, entry]) => entry[figure] > 0)
      .map(([peerId, entry]) => [peerId, entry[figure]] as const)
      .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, n)
  }

  /** The number of peers remembered. */
  get size(): number {
    return this.figures.size
  }
}

/** The process's table, fed by `NetworkTimingLayer` and read by the registry (one per process, like the metrics). */
export const peerTraffic = new PeerTraffic()
