/**
 * The group a remote address counts against for the per-address inbound connection cap
 * (`inboundConnections.ts`): an IPv4 address is its own group (an IPv4-mapped IPv6 address is the
 * IPv4 address), an IPv6 address is its /64. A single IPv6 host is routinely given a whole /64 (2^64
 * addresses), so a cap per IPv6 address caps nothing: one machine could open every inbound slot from
 * addresses of its own prefix. Parsing is ipaddr.js's (what Node's own HTTP tooling uses), not ours.
 */
import ipaddr from "ipaddr.js"

/** Leading 16-bit groups of an IPv6 address that make up its /64. */
const IPV6_GROUP_PARTS = 4

/** `address`'s group: `a.b.c.d` for IPv4, `x:x:x:x::/64` for IPv6, the input itself if it does not parse. */
export const addressGroup = (address: string): string => {
  if (!ipaddr.isValid(address)) return address
  const parsed = ipaddr.process(address)
  if (parsed.kind() === "ipv4") return parsed.toString()
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, IPV6_GROUP_PARTS).map((part) => part.toString(16))
  return `${parts.join(":")}::/64`
}
