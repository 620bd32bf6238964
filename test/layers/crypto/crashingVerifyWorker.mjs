// Test double of verifyWorker.mjs: behaves like it, except that a chunk whose first message starts
// with the bytes "CRASH" kills the worker with an uncaught exception (to test worker replacement).
// ESM evaluates static imports in order, so the crash listener is registered before the real one,
// and both before the first message can be delivered (no top-level await).
import "./crashOnMarker.mjs"
import "../../../src/layers/crypto/verifyWorker.mjs"
