/**
 * An attacker process: `node --import tsx attacker.ts '<AttackPlan JSON>'`. It runs one attack
 * against the victim until SIGTERM (or SIGINT), printing JSON lines on stdout: `{"event":"ready"}`
 * once the attack is under way, `{"event":"progress","counters":{…}}` every second and
 * `{"event":"done","counters":{…}}` when it has wound down; then it exits 0. The bench runs each
 * attacker in its own process so that its CPU and memory are not the victim's or the honest client's.
 */
import type { Attack, AttackName, AttackPlan } from "./attack.js"
import { Counters, isAttackName } from "./attack.js"
import { compressedOversized } from "./attacks/compressedOversized.js"
import { connectionFlood } from "./attacks/connectionFlood.js"
import { forgedCertifiers } from "./attacks/forgedCertifiers.js"
import { garbageFlood } from "./attacks/garbageFlood.js"
import { sybilPeers } from "./attacks/sybilPeers.js"
import { unreadStreams } from "./attacks/unreadStreams.js"

/** The attacks, by name. */
const ATTACKS: Readonly<Record<AttackName, Attack>> = {
  compressedOversized,
  unreadStreams,
  garbageFlood,
  forgedCertifiers,
  sybilPeers,
  connectionFlood
}

/** Longest wind-down after the stop signal before the process exits anyway. */
const WIND_DOWN_MS = 3_000
const PROGRESS_INTERVAL_MS = 1_000

const plan = JSON.parse(process.argv[2] ?? "{}") as AttackPlan
if (!isAttackName(plan.attack)) {
  console.error(`attacker: unknown attack ${String(plan.attack)}`)
  process.exit(2)
}

const counters = new Counters()
const emit = (event: string) => console.log(JSON.stringify({ event, counters: counters.values }))
let stopped = false
let signalStop: () => void = () => {}
const stop = new Promise<void>((resolve) => (signalStop = resolve))
const onSignal = () => {
  if (stopped) return
  stopped = true
  signalStop()
  setTimeout(() => {
    emit("done")
    process.exit(0)
  }, WIND_DOWN_MS).unref()
}
process.on("SIGTERM", onSignal)
process.on("SIGINT", onSignal)
// Errors of sockets the victim resets are the attack's normal life, not the attacker's end.
process.on("uncaughtException", (error) => counters.add(`uncaught:${error.name}`))
process.on("unhandledRejection", () => counters.add("unhandledRejection"))

const progress = setInterval(() => emit("progress"), PROGRESS_INTERVAL_MS)
ATTACKS[plan.attack]({
  plan,
  counters,
  ready: () => console.log(JSON.stringify({ event: "ready" })),
  stopped: () => stopped,
  stop
}).then(
  () => {
    clearInterval(progress)
    emit("done")
    process.exit(0)
  },
  (error: unknown) => {
    clearInterval(progress)
    console.error(`attacker ${plan.attack} failed: ${error instanceof Error ? error.stack : String(error)}`)
    emit("done")
    process.exit(1)
  }
)
