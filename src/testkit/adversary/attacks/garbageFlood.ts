/**
 * Attack 3, garbage flood: 8 identities, each keeping 200 calls in flight, each call a random route
 * of the six with random bytes as its request (a valid gRPC frame around a message that is not one).
 */
import { randomBytes } from "node:crypto"
import { loops, scaled, type Attack } from "../attack.js"
import { freshIdentity } from "../identity.js"
import { grpcFrame, P2P_ROUTES, rawCall, SessionSlot } from "../h2.js"

const IDENTITIES = 8
const IN_FLIGHT_PER_IDENTITY = 200
/** Garbage requests are 1 byte to 4 KiB, and one in 50 is 256 KiB. */
const MAX_SMALL_BYTES = 4_096
const LARGE_BYTES = 256 * 1024
const LARGE_SHARE = 0.02
/** Random bytes made once and sliced, so the attacker's CPU goes to sending. */
const POOL_BYTES = 4 * 1024 * 1024

/** Random bytes to every route, 200 calls in flight per identity. */
export const garbageFlood: Attack = async (context) => {
  const pool = randomBytes(POOL_BYTES)
  const garbage = (): Buffer => {
    const length = Math.random() < LARGE_SHARE ? LARGE_BYTES : 1 + Math.floor(Math.random() * MAX_SMALL_BYTES)
    const start = Math.floor(Math.random() * (POOL_BYTES - length))
    return pool.subarray(start, start + length)
  }
  const slots = Array.from({ length: scaled(context.plan, IDENTITIES) }, () => new SessionSlot(context.plan.victim.address, freshIdentity()))
  await Promise.all(slots.map((slot) => slot.session()))
  context.ready()
  const perIdentity = scaled(context.plan, IN_FLIGHT_PER_IDENTITY)
  await loops(context, slots.length * perIdentity, async (index) => {
    const session = await slots[index % slots.length]!.session()
    const route = P2P_ROUTES[Math.floor(Math.random() * P2P_ROUTES.length)]!
    const outcome = await rawCall(session, route, grpcFrame(garbage()), { timeoutMs: 10_000 })
    context.counters.add("calls")
    context.counters.status(outcome.status)
  })
  context.counters.set("reconnects", slots.reduce((n, slot) => n + slot.reconnects, 0))
  await Promise.all(slots.map((slot) => slot.close()))
}
