/**
 * Entry point of a link's own process, started by link.ts as
 * `node <bundle of linkProcess.ts> '<LinkProcessOptions JSON>'` with an IPC channel. It starts the
 * relay, reports `ready` with its port, then runs the parent's commands. It lives only as long as its
 * parent: when the IPC channel closes (the parent exited, crashed or was killed) it exits, so no relay
 * is ever left running. It writes to stderr only what is not a connection's ordinary fate.
 */
import { Either } from "effect"
import { conditionsProblem } from "./conditions.js"
import { decodeOrProblem, LinkCommand, LinkProcessOptions, type LinkProcessMessage } from "./protocol.js"
import { startRelay, type Relay } from "./relay.js"

const send = (message: LinkProcessMessage): void => {
  if (process.connected) process.send?.(message)
}

/** Exits once `message` is handed to the channel (exiting at once could lose it). */
const sendThenExit = (message: LinkProcessMessage, code: number): void => {
  if (process.connected && process.send !== undefined) process.send(message, () => process.exit(code))
  else process.exit(code)
}

const main = async (): Promise<void> => {
  if (process.send === undefined) {
    process.stderr.write("linkProcess: start it with startLink (link.ts); it needs an IPC channel\n")
    process.exit(2)
  }
  const decoded = Either.flatMap(
    Either.try({ try: (): unknown => JSON.parse(process.argv[2] ?? ""), catch: () => "argv[2] is not JSON" }),
    (json) => decodeOrProblem(LinkProcessOptions, json)
  )
  if (Either.isLeft(decoded)) {
    return sendThenExit({ type: "startFailed", message: `bad options: ${decoded.left}` }, 2)
  }
  const options = decoded.right
  const log = (line: string) => process.stderr.write(`link ${options.label}: ${line}\n`)

  // Nothing a socket does may take the link down; a bug is reported, and the link keeps serving.
  process.on("uncaughtException", (error) => log(`uncaught: ${error.stack ?? String(error)}`))
  process.on("disconnect", () => process.exit(0))

  let relay: Relay
  try {
    relay = await startRelay({
      target: { host: options.targetHost, port: options.targetPort },
      listenPort: options.listenPort,
      conditions: options.conditions,
      log
    })
  } catch (error) {
    return sendThenExit({ type: "startFailed", message: error instanceof Error ? error.message : String(error) }, 1)
  }

  process.on("message", (message: unknown) => {
    const command = decodeOrProblem(LinkCommand, message)
    if (Either.isLeft(command)) {
      log(`ignored a malformed command: ${command.left}`)
      return
    }
    run(relay, command.right)
  })
  send({ type: "ready", port: relay.port })
}

const run = (relay: Relay, command: LinkCommand): void => {
  switch (command.command) {
    case "set": {
      const problem = conditionsProblem(command.change)
      if (problem !== undefined) return send({ type: "failed", id: command.id, message: problem })
      relay.set(command.change)
      break
    }
    case "cut":
      relay.cut()
      break
    case "stall":
      relay.stall()
      break
    case "heal":
      relay.heal()
      break
    case "stats":
      break
    case "close":
      void relay.close().then(() => process.exit(0))
      return
  }
  send({ type: "done", id: command.id, stats: relay.stats() })
}

void main()
