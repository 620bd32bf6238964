/**
 * Blake2b-256, the digest of every hashed object (Soma's `DefaultHash`). The WASM build of hash-wasm is
 * ~14× faster than pure JS here; it needs an async start, done once at module load (top-level await),
 * after which hashing is synchronous so that digests stay pure functions of bytes.
 */
import { createBLAKE2b } from "hash-wasm"

const hasher = await createBLAKE2b(256)

/** Blake2b with a 32-byte output. */
export const blake2b256 = (data: Uint8Array): Uint8Array => {
  hasher.init()
  hasher.update(data)
  return hasher.digest("binary")
}

/** Blake2b-256 of several byte strings concatenated, without building the concatenation. */
export const blake2b256Concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  hasher.init()
  for (const part of parts) hasher.update(part)
  return hasher.digest("binary")
}
