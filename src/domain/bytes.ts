/** Small helpers for byte strings: hex, equality, concatenation, ordering. */

/** Lowercase hex of bytes. */
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/** Bytes of a hex string (the caller validates the format). */
export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"))

/** Constant-shape byte equality. */
export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lexicographic order of byte strings (shorter first on a common prefix). */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** Concatenation of byte strings. */
export const concatBytes = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** An 8-byte little-endian encoding of a non-negative safe integer (BCS u64). */
export const u64LE = (value: number): Uint8Array => {
  const out = new Uint8Array(8)
  const view = new DataView(out.buffer)
  view.setUint32(0, value % 0x1_0000_0000, true)
  view.setUint32(4, Math.floor(value / 0x1_0000_0000), true)
  return out
}
