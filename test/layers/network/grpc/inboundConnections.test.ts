/**
 * The inbound connection table on its own: the caps, and which connection gives way for a newcomer.
 */
import { describe, expect, it } from "@effect/vitest"
import { InboundConnectionTable } from "../../../../src/layers/network/grpc/inboundConnections.js"

/** A table and a log of the connections it closed. */
const table = (maxConnections: number, maxConnectionsPerAddress: number) => {
  const closed: Array<string> = []
  const connections = new InboundConnectionTable({ maxConnections, maxConnectionsPerAddress })
  const admit = (key: string) => connections.admit(key, key.slice(0, key.lastIndexOf(":")), () => closed.push(key))
  return { connections, closed, admit }
}

describe("InboundConnectionTable", () => {
  it("at the per-address cap, the oldest idle unauthenticated connection of that address gives way", () => {
    const { connections, closed, admit } = table(100, 3)
    admit("10.0.0.1:1")
    admit("10.0.0.1:2")
    admit("10.0.0.1:3")
    admit("10.0.0.9:1") // another address is not counted
    connections.authenticated("10.0.0.1:1", "peer-10.0.0.1:1")
    expect(admit("10.0.0.1:4")).toEqual({ admitted: true, evicted: ["10.0.0.1:2"] })
    expect(closed).toEqual(["10.0.0.1:2"])
    expect(connections.countOf("10.0.0.1")).toBe(3)
    expect(connections.size).toBe(4)
  })

  it("at the total cap, the oldest idle unauthenticated connection anywhere gives way", () => {
    const { connections, closed, admit } = table(3, 100)
    admit("10.0.0.1:1")
    admit("10.0.0.2:1")
    admit("10.0.0.3:1")
    connections.authenticated("10.0.0.1:1", "peer-10.0.0.1:1")
    expect(admit("10.0.0.4:1")).toEqual({ admitted: true, evicted: ["10.0.0.2:1"] })
    expect(closed).toEqual(["10.0.0.2:1"])
  })

  it("idle connections give way before busy ones; busy unauthenticated ones before refusing", () => {
    const { connections, closed, admit } = table(3, 100)
    admit("10.0.0.1:1")
    admit("10.0.0.2:1")
    admit("10.0.0.3:1")
    connections.callStarted("10.0.0.1:1") // a call that never sends its request
    connections.callStarted("10.0.0.2:1")
    connections.callEnded("10.0.0.2:1")
    expect(admit("10.0.0.4:1")).toEqual({ admitted: true, evicted: ["10.0.0.2:1"] })
    connections.callStarted("10.0.0.3:1")
    connections.callStarted("10.0.0.4:1")
    expect(admit("10.0.0.5:1")).toEqual({ admitted: true, evicted: ["10.0.0.1:1"] })
    expect(closed).toEqual(["10.0.0.2:1", "10.0.0.1:1"])
  })

  it("authenticated connections never give way: when all are, the newcomer is refused", () => {
    const { connections, closed, admit } = table(2, 100)
    admit("10.0.0.1:1")
    admit("10.0.0.2:1")
    connections.authenticated("10.0.0.1:1", "peer-10.0.0.1:1")
    connections.authenticated("10.0.0.2:1", "peer-10.0.0.2:1")
    expect(admit("10.0.0.3:1")).toMatchObject({ admitted: false })
    expect(closed).toEqual([])
    expect(connections.size).toBe(2)
  })

  it("both caps at once close at most one connection each, never the same one twice", () => {
    const { closed, admit } = table(2, 1)
    admit("10.0.0.1:1")
    admit("10.0.0.2:1")
    expect(admit("10.0.0.1:2")).toEqual({ admitted: true, evicted: ["10.0.0.1:1"] })
    expect(closed).toEqual(["10.0.0.1:1"])
  })

  it("a close event of a connection that was replaced (same key) does not forget the new one", () => {
    const { connections, admit } = table(10, 10)
    const staleClose = () => {}
    connections.admit("10.0.0.1:1", "10.0.0.1", staleClose)
    connections.closed("10.0.0.1:1", staleClose)
    expect(connections.size).toBe(0)
    admit("10.0.0.1:1")
    connections.closed("10.0.0.1:1", staleClose)
    expect(connections.size).toBe(1)
  })

  it("closeCaller closes every connection its caller authenticated on, and only those", () => {
    const { connections, closed, admit } = table(10, 10)
    admit("10.0.0.1:1")
    admit("10.0.0.1:2")
    admit("10.0.0.2:1")
    admit("10.0.0.3:1") // never authenticated: nobody's
    connections.authenticated("10.0.0.1:1", "banned")
    connections.authenticated("10.0.0.2:1", "banned") // the same caller from another address
    connections.authenticated("10.0.0.1:2", "honest")
    expect(connections.closeCaller("banned")).toBe(2)
    expect(closed).toEqual(["10.0.0.1:1", "10.0.0.2:1"])
    expect(connections.size).toBe(2)
    expect(connections.countOf("10.0.0.1")).toBe(1)
    expect(connections.closeCaller("banned")).toBe(0)
  })
})
