/**
 * Address groups for the per-address inbound cap: every address of one IPv6 /64 is one group (a host
 * given a /64 cannot open a slot per address), IPv4 addresses are their own, IPv4-mapped IPv6 is IPv4.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { addressGroup } from "../../../../src/layers/network/grpc/addressGroup.js"
import { InboundConnectionTable } from "../../../../src/layers/network/grpc/inboundConnections.js"

const hextet = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16))
const hextets = (count: number) => fc.array(hextet, { minLength: count, maxLength: count })
const ipv6 = (prefix: ReadonlyArray<string>, host: ReadonlyArray<string>) => [...prefix, ...host].join(":")

describe("addressGroup", () => {
  it("puts every address of an IPv6 /64 in one group, and addresses of two /64s in two", () => {
    fc.assert(
      fc.property(hextets(4), hextets(4), hextets(4), hextets(4), (prefix, otherPrefix, host, otherHost) => {
        expect(addressGroup(ipv6(prefix, host))).toBe(addressGroup(ipv6(prefix, otherHost)))
        const samePrefix = prefix.every((part, i) => parseInt(part, 16) === parseInt(otherPrefix[i] as string, 16))
        expect(addressGroup(ipv6(prefix, host)) === addressGroup(ipv6(otherPrefix, host))).toBe(samePrefix)
      }),
      { numRuns: 500 }
    )
  })

  it("reads compressed IPv6, keeps IPv4 addresses apart, and maps IPv4-mapped IPv6 to IPv4", () => {
    expect(addressGroup("2001:db8::1")).toBe("2001:db8:0:0::/64")
    expect(addressGroup("2001:db8:0:0:ffff::2")).toBe("2001:db8:0:0::/64")
    expect(addressGroup("2001:db8:0:1::1")).toBe("2001:db8:0:1::/64")
    expect(addressGroup("10.0.0.1")).toBe("10.0.0.1")
    expect(addressGroup("10.0.0.2")).toBe("10.0.0.2")
    expect(addressGroup("::ffff:10.0.0.1")).toBe("10.0.0.1")
    expect(addressGroup("not an address")).toBe("not an address")
  })

  it("caps one /64 at the per-address limit, however many addresses it connects from", () => {
    const table = new InboundConnectionTable({ maxConnections: 100, maxConnectionsPerAddress: 3 })
    for (let i = 1; i <= 3; i++) {
      const address = `2001:db8:0:7::${i}`
      table.admit(`[${address}]:1000`, addressGroup(address), () => {})
      table.authenticated(`[${address}]:1000`, `peer-${i}`)
    }
    expect(table.admit("[2001:db8:0:7::99]:1000", addressGroup("2001:db8:0:7::99"), () => {})).toMatchObject({ admitted: false })
    expect(table.admit("[2001:db8:0:8::1]:1000", addressGroup("2001:db8:0:8::1"), () => {})).toMatchObject({ admitted: true })
  })
})
