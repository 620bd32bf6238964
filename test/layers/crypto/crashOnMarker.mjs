// Part of the crashingVerifyWorker.mjs test double: a 'message' listener that exits the thread (as a crash
// would) when the first packed message of a chunk starts with "CRASH".
// It is imported before the real worker so that it is registered — and therefore runs — first.
import { parentPort } from "node:worker_threads"

if (parentPort === null) throw new Error("must run as a worker thread")

parentPort.on("message", (buffer) => {
  const bytes = new Uint8Array(buffer)
  // Ed25519 chunk: u32 kind | u32 count | pk (32) | sig (64) | u32 msgLen | msg — see chunkFormat.ts
  const marker = new TextDecoder().decode(bytes.subarray(8 + 100, 8 + 105))
  // process.exit stops the thread at once; a throw would not (MessagePort dispatches like an
  // EventTarget: the next listener still runs and replies before the uncaught error ends the thread).
  if (marker === "CRASH") process.exit(70)
})
