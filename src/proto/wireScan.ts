/**
 * A pre-scan of an encoded protobuf message: walks its top-level fields, counting the occurrences of
 * chosen length-delimited fields and checking their lengths, without allocating anything per field
 * (no sub-arrays, no strings, no objects). It runs before the generated decoder, so a message of two
 * million empty refs is refused after one pass over its bytes instead of after materialising two
 * million `Uint8Array` views (≈ 240 MiB of heap, seconds of main thread).
 */
import { Either } from "effect"

/** The limits of one length-delimited field (`bytes`, `string`, message; repeated or not). */
export interface FieldLimit {
  /** Field number in the `.proto`. */
  readonly field: number
  /** The field's name in messages (`blockRefs`), for the refusal. */
  readonly name: string
  /** Occurrences allowed in one message. */
  readonly maxCount: number
  /** Every occurrence must be exactly this many bytes. */
  readonly exactLength?: number
  /** No occurrence may be longer than this. */
  readonly maxLength?: number
  /** What the count counts, for the refusal (`refs per request`; default `per message`). */
  readonly countUnit?: string
  /** What an occurrence is, for a length refusal (`BCS BlockRef`). */
  readonly what?: string
}

/** Why a message was refused: a count over its limit, an occurrence of the wrong length, or bytes that are not protobuf. */
export type ScanFailure =
  | { readonly _tag: "TooMany"; readonly name: string; readonly count: number; readonly maxCount: number; readonly unit: string }
  | { readonly _tag: "BadLength"; readonly name: string; readonly index: number; readonly length: number; readonly limit: FieldLimit }
  | { readonly _tag: "Malformed"; readonly detail: string }

/** The refusal as one line, in the words of the request validation (`blockRefs: at most 1000 …`). */
export const describeScanFailure = (failure: ScanFailure): string => {
  switch (failure._tag) {
    case "TooMany":
      return `${failure.name}: at most ${failure.maxCount} ${failure.unit}, got ${failure.count}`
    case "BadLength": {
      const { exactLength, maxCount, maxLength, what } = failure.limit
      const field = maxCount > 1 ? `${failure.name}[${failure.index}]` : failure.name
      const suffix = what === undefined ? "" : ` (${what})`
      return exactLength !== undefined
        ? `${field}: must be exactly ${exactLength} bytes${suffix}, got ${failure.length}`
        : `${field}: must be at most ${maxLength ?? 0} bytes${suffix}, got ${failure.length}`
    }
    case "Malformed":
      return `invalid protobuf: ${failure.detail}`
  }
}

const malformed = (detail: string): Either.Either<never, ScanFailure> => Either.left({ _tag: "Malformed", detail })

/**
 * Scans `bytes` against `limits`. A count over its limit wins over a bad length (the count is the
 * cheaper and more telling refusal); a length is judged only up to the first bad one. Cost: one pass,
 * a counter per limit.
 */
export const scanMessage = (bytes: Uint8Array, limits: ReadonlyArray<FieldLimit>): Either.Either<void, ScanFailure> => {
  const counts = limits.map(() => 0)
  let badLength: ScanFailure | undefined
  let pos = 0
  const end = bytes.length
  // A varint of at most `maxBytes` bytes as a number (exact up to 2^53; lengths and tags stay far below).
  const varint = (maxBytes: number): number | undefined => {
    let value = 0
    let scale = 1
    for (let i = 0; i < maxBytes; i++) {
      if (pos >= end) return undefined
      const byte = bytes[pos++] as number
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) return value
      scale *= 128
    }
    return undefined
  }
  while (pos < end) {
    const tag = varint(5)
    if (tag === undefined || tag > 0xffff_ffff) return malformed(`bad tag at byte ${pos}`)
    const field = Math.floor(tag / 8)
    const wireType = tag % 8
    if (field === 0) return malformed(`field number 0 at byte ${pos}`)
    switch (wireType) {
      case 0:
        if (varint(10) === undefined) return malformed(`truncated varint at byte ${pos}`)
        break
      case 1:
        pos += 8
        break
      case 5:
        pos += 4
        break
      case 2: {
        const length = varint(5)
        if (length === undefined || length > end - pos) return malformed(`truncated field ${field} at byte ${pos}`)
        let i = 0
        while (i < limits.length && (limits[i] as FieldLimit).field !== field) i++
        const limit = limits[i]
        if (limit !== undefined) {
          const index = counts[i] as number
          counts[i] = index + 1
          const wrong = limit.exactLength !== undefined ? length !== limit.exactLength : limit.maxLength !== undefined && length > limit.maxLength
          if (wrong && badLength === undefined) badLength = { _tag: "BadLength", name: limit.name, index, length, limit }
        }
        pos += length
        break
      }
      default:
        return malformed(`wire type ${wireType} of field ${field}`)
    }
    if (pos > end) return malformed("truncated fixed-width field")
  }
  for (const [i, limit] of limits.entries()) {
    const count = counts[i] as number
    if (count > limit.maxCount) return Either.left({ _tag: "TooMany", name: limit.name, count, maxCount: limit.maxCount, unit: limit.countUnit ?? "per message" })
  }
  return badLength === undefined ? Either.void : Either.left(badLength)
}
