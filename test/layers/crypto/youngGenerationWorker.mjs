// Test double of verifyWorker.mjs: answers every chunk with its own young-generation limit (MiB) in
// binary, bit i in verdict i, so that a test sees the resource limits the pool started it with.
import { parentPort, resourceLimits } from "node:worker_threads"

if (parentPort === null) throw new Error("youngGenerationWorker.mjs must run as a worker thread")
const port = parentPort
port.on("message", (buffer) => {
  const count = new DataView(buffer).getUint32(4, true)
  const limit = resourceLimits.maxYoungGenerationSizeMb ?? 0
  const verdicts = Uint8Array.from({ length: count }, (_, i) => (limit >> i) & 1)
  port.postMessage(verdicts, [verdicts.buffer])
})
