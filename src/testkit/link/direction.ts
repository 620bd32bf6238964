/**
 * One direction of a relayed connection: reads chunks from the source socket, stamps each with its
 * arrival time (conditions.ts), and writes them to the sink socket when due — with one timer for the
 * next due chunk, all chunks due together written in one corked batch. The source's FIN travels the
 * same way, behind the data. Memory stays bounded by pausing the source when the backlog (queued here
 * plus unsent in the sink socket) passes the high-water mark and resuming below half of it; a stall
 * freezes the direction's time, so held bytes flow on heal with the spacing they had.
 */
import type { Socket } from "node:net"
import { performance } from "node:perf_hooks"
import { highWaterBytes, idleClock, scheduleChunk, shiftClock, type DirectionClock, type LinkConditions } from "./conditions.js"

/**
 * Delivered entries are dropped from the front of the queue array once this many have piled up (or the
 * queue is empty): a busy queue is then not copied on every delivery, nor does it grow without end.
 */
const COMPACT_AFTER_DELIVERED = 1024

/** What a direction reads from its link: the conditions now and whether the link is stalled. */
export interface DirectionLink {
  readonly conditions: () => LinkConditions
  /** When the current stall began (`performance.now()`), or undefined when not stalled. */
  readonly stalledSince: () => number | undefined
  readonly onForwarded: (bytes: number) => void
}

/** A queued chunk; `data` undefined is the source's FIN. */
interface Chunk {
  arrivalMs: number
  readonly data: Buffer | undefined
}

/** Forwards `source` to `sink` under the link's conditions; see the file header. */
export class Direction {
  private readonly chunks: Array<Chunk> = []
  private head = 0
  private queued = 0
  private clock: DirectionClock = idleClock
  private timer: NodeJS.Timeout | undefined = undefined
  private reading = false
  private stopped = false

  constructor(
    private readonly source: Socket,
    private readonly sink: Socket,
    private readonly link: DirectionLink
  ) {
    // Paused before the "data" listener is attached, so the listener does not start the flow: only updateReading does.
    source.pause()
    source.on("data", (data: Buffer) => this.push(data))
    source.on("end", () => this.push(undefined))
    sink.on("drain", () => this.updateReading())
  }

  /** Bytes held: queued here and not yet flushed by the sink socket. */
  get backlogBytes(): number {
    return this.queued + this.sink.writableLength
  }

  /** Starts reading the source (both sockets are connected). */
  start(): void {
    this.updateReading()
  }

  /** Stops forwarding for good and drops what is queued (the connection is being torn down). */
  stop(): void {
    this.stopped = true
    this.clearTimer()
    this.chunks.length = 0
    this.head = 0
    this.queued = 0
  }

  /** The link stalled: deliver nothing and read nothing until `thaw`. */
  freeze(): void {
    this.clearTimer()
    this.updateReading()
  }

  /** The stall that lasted `stalledMs` ended: every held chunk lands that much later than planned. */
  thaw(stalledMs: number): void {
    for (let i = this.head; i < this.chunks.length; i++) (this.chunks[i] as Chunk).arrivalMs += stalledMs
    this.clock = shiftClock(this.clock, stalledMs)
    this.arm()
    this.updateReading()
  }

  /** The conditions changed: the high-water mark may have moved. */
  conditionsChanged(): void {
    this.updateReading()
  }

  private push(data: Buffer | undefined): void {
    if (this.stopped) return
    // During a stall the link's time stands still at the stall's start (bytes read just before the pause took effect).
    const now = this.link.stalledSince() ?? performance.now()
    const scheduled = scheduleChunk(this.clock, this.link.conditions(), now, data?.length ?? 0)
    this.clock = scheduled.clock
    this.chunks.push({ arrivalMs: scheduled.arrivalMs, data })
    this.queued += data?.length ?? 0
    this.updateReading()
    if (this.timer === undefined) this.arm()
  }

  /**
   * One timer, for the head of the queue: arrival times never decrease, so the head is always due first.
   * Node keeps timers in whole milliseconds of a loop clock that lags `performance.now()`, so the wait is
   * rounded up, and a timer that still fires early finds nothing due and re-arms: the delay is a floor
   * (a chunk is never early), measured ~0.5 ms late per hop.
   */
  private arm(): void {
    if (this.stopped || this.timer !== undefined || this.link.stalledSince() !== undefined) return
    const next = this.chunks[this.head]
    if (next === undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.deliver()
    }, Math.max(0, Math.ceil(next.arrivalMs - performance.now())))
  }

  private deliver(): void {
    if (this.stopped || this.link.stalledSince() !== undefined) return
    const now = performance.now()
    let bytes = 0
    let fin = false
    this.sink.cork()
    while (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head] as Chunk
      if (chunk.arrivalMs > now) break
      this.head++
      if (chunk.data === undefined) {
        fin = true
        break
      }
      bytes += chunk.data.length
      if (this.sink.writable) this.sink.write(chunk.data)
    }
    this.sink.uncork()
    this.queued -= bytes
    if (this.head >= COMPACT_AFTER_DELIVERED || this.head === this.chunks.length) {
      this.chunks.splice(0, this.head)
      this.head = 0
    }
    if (bytes > 0) this.link.onForwarded(bytes)
    if (fin && this.sink.writable) this.sink.end()
    this.updateReading()
    this.arm()
  }

  /** Reads while the link is not stalled and the backlog is under the mark (with hysteresis: resume below half). */
  private updateReading(): void {
    const highWater = highWaterBytes(this.link.conditions())
    const backlog = this.backlogBytes
    const wanted =
      !this.stopped &&
      this.link.stalledSince() === undefined &&
      !this.source.destroyed &&
      (this.reading ? backlog <= highWater : backlog < highWater / 2)
    if (wanted === this.reading) return
    this.reading = wanted
    if (wanted) this.source.resume()
    else this.source.pause()
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}
