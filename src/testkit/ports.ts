/**
 * Free TCP ports on loopback for programs that start nodes (benchmarks, tests): bound with port 0 and
 * released at once, so the nodes then listen on them (a race with other processes is possible but rare).
 */
import { createServer } from "node:net"

/** Whether `port` can be listened on now. */
const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** `count` free ports, chosen by the kernel. */
export const freePorts = async (count: number): Promise<Array<number>> => {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer()
          server.once("error", reject)
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
    )
  )
  const ports = servers.map((s) => {
    const address = s.address()
    if (address === null || typeof address === "string") throw new Error("no TCP port")
    return address.port
  })
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** One free port. */
export const freePort = async (): Promise<number> => (await freePorts(1))[0]!

/** A base port with `count` consecutive free ports from it (the devnet layout puts node i at base + i). */
export const freeBasePort = async (count: number): Promise<number> => {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000)
    const free = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)))
    if (free.every(Boolean)) return base
  }
  throw new Error(`no ${count} consecutive free ports`)
}
