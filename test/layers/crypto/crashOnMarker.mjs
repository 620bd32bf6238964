// Part of the crashingVerifyWorker.mjs test double: a 'message' listener that exits the thread (as a crash
// would) when the first packed message of a chunk starts with "CRASH".
// It is imported before the real worker so that it is registered — and therefore runs — first.
import { parentPort } from "node:worker_threads"

if (parentPort === null) throw new Error("must run as a worker thread")

parentPort.on("message", (buffer) => {
  const bytes = new Uint8Array(buffer)
  const marker = new TextDecoder().decode(bytes.subarray(4 + 100, 4 + 105))
  // process.exit stops the thread at once; a throw would not (MessagePort dispatches like an
  // EventTarget: the next listener still runs and replies before the uncaught error ends the thread).
  if (marker === "CRASH") process.exit(70)
})
