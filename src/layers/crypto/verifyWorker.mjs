// Verification worker of the NodeCryptoLayer pool (verifyPool.ts): Ed25519 and BLS12-381 aggregates.
//
// Plain JS, so the same file loads under vitest, tsx and built output (a worker thread does not
// inherit the parent's TypeScript loader). Ed25519 needs only node:crypto; BLS runs blsVerify.mjs
// (native blst through @chainsafe/blst, a prebuilt addon that loads in worker threads).
//
// Input: ONE transferable ArrayBuffer per chunk, packed by chunkFormat.ts; its first u32le is the kind:
//   0 = Ed25519: u32le count, then per item: pk (32) | sig (64) | u32le msgLen | msg (msgLen)
//   1 = BLS aggregates: see chunkFormat.ts and blsVerify.mjs
// Output: a Uint8Array of `count` verdicts (1 = valid, 0 = invalid), its buffer transferred back.
// An unknown kind is a bug on the sending side: the worker throws, and the pool reports the crash.
//
// Ed25519: the strict pre-check (lengths, S < L, canonical A and R, small-order A; ed25519Strict.ts)
// has already run on the main thread for every packed item: this worker only runs OpenSSL's
// cofactorless equation and must not be fed unchecked items.
import { verify } from "node:crypto"
import { parentPort } from "node:worker_threads"
import { BLS_CHUNK_KIND, verifyBlsChunk } from "./blsVerify.mjs"

/** Chunk kind tag of chunkFormat.ts (`ChunkKind.Ed25519`). */
const ED25519_CHUNK_KIND = 0

if (parentPort === null) throw new Error("verifyWorker.mjs must run as a worker thread")
const port = parentPort

const verifyEd25519Chunk = (buffer) => {
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  const count = view.getUint32(4, true)
  const verdicts = new Uint8Array(count)
  let offset = 8
  for (let i = 0; i < count; i++) {
    const publicKeyOffset = offset
    const signature = bytes.subarray(offset + 32, offset + 96)
    const messageLength = view.getUint32(offset + 96, true)
    const message = bytes.subarray(offset + 100, offset + 100 + messageLength)
    offset += 100 + messageLength
    try {
      // A JWK import is ~10x cheaper than an SPKI DER import in OpenSSL 3.0 (measured: ~7 µs vs ~75 µs).
      const key = { key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(buffer, publicKeyOffset, 32).toString("base64url") }, format: "jwk" }
      verdicts[i] = verify(null, message, key, signature) ? 1 : 0
    } catch {
      verdicts[i] = 0 // a key OpenSSL cannot import is not a valid signer
    }
  }
  return verdicts
}

port.on("message", (buffer) => {
  const kind = new DataView(buffer).getUint32(0, true)
  let verdicts
  if (kind === ED25519_CHUNK_KIND) verdicts = verifyEd25519Chunk(buffer)
  else if (kind === BLS_CHUNK_KIND) verdicts = verifyBlsChunk(buffer)
  else throw new Error(`unknown verification chunk kind ${kind}`)
  port.postMessage(verdicts, [verdicts.buffer])
})
