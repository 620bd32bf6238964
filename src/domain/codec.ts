/**
 * Canonical BCS encoding built on `@mysten/bcs`, hardened for untrusted bytes: every vector and byte
 * string has a bound that is checked *before* anything is allocated, integers that do not fit a
 * JavaScript safe integer are refused, enum/option tags must be in range, and decoding never throws
 * past `decodeBcs` — it returns a `DecodeError` naming what was wrong.
 *
 * Byte fields decode as views into the input, not copies: a block of 100 validators holds ≈ 140
 * digests and keys, and a copy each was most of the garbage of a sync. A view keeps its whole input
 * buffer alive, so a decoded value lives no longer than the bytes it came from (a `VerifiedBlock`
 * holds both); a value kept apart from its bytes (a discovery peer table) decodes with `ownedBytes`.
 */
import { bcs, BcsReader, BcsType } from "@mysten/bcs"
import { Data, Either } from "effect"

/** Why bytes could not be decoded. */
export type DecodeFailure =
  | "Truncated" // the input ended inside a value
  | "TrailingBytes" // a complete value was followed by more bytes
  | "VectorTooLong" // a length prefix exceeded the bound of its field
  | "WrongLength" // a fixed-size field or a bounded byte string had a length it may not have
  | "InvalidValue" // a tag, integer or string that the type does not allow

/** Bytes that are not the canonical encoding of the expected type. */
export class DecodeError extends Data.TaggedError("DecodeError")<{
  readonly type: string
  readonly reason: DecodeFailure
  readonly detail: string
}> {
  override get message(): string {
    return `cannot decode ${this.type}: ${this.reason} (${this.detail})`
  }
}

/** Thrown inside readers and turned into a `DecodeError` by `decodeBcs`; never escapes this module. */
class ReadFailure extends Error {
  constructor(
    readonly reason: DecodeFailure,
    readonly detail: string
  ) {
    super(detail)
  }
}

// BcsReader keeps its cursor private; bounds checks need it, so it is read here and only here.
const position = (reader: BcsReader): number => reader["bytePosition"]
const remaining = (reader: BcsReader): number => reader["dataView"].byteLength - position(reader)

const need = (reader: BcsReader, bytes: number, what: string): void => {
  if (remaining(reader) < bytes) throw new ReadFailure("Truncated", `${what}: needs ${bytes} bytes, ${remaining(reader)} left`)
}

/** Reads a ULEB128 length, refusing non-minimal encodings and lengths above `max`. */
const readLength = (reader: BcsReader, max: number, what: string): number => {
  let value = 0
  let shift = 0
  for (let i = 0; i < 5; i++) {
    need(reader, 1, what)
    const byte = reader.read8()
    value += (byte & 0x7f) * 2 ** shift
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) throw new ReadFailure("InvalidValue", `${what}: non-canonical length prefix`)
      if (value > max) throw new ReadFailure("VectorTooLong", `${what}: length ${value} exceeds ${max}`)
      return value
    }
    shift += 7
  }
  throw new ReadFailure("InvalidValue", `${what}: length prefix longer than 5 bytes`)
}

/** BCS u8. */
export const u8 = new BcsType<number, number>({
  name: "u8",
  read: (reader) => {
    need(reader, 1, "u8")
    return reader.read8()
  },
  write: (value, writer) => writer.write8(value),
  validate: (value) => {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new TypeError(`u8 out of range: ${value}`)
  }
})

/** BCS u32. */
export const u32 = new BcsType<number, number>({
  name: "u32",
  read: (reader) => {
    need(reader, 4, "u32")
    return reader.read32()
  },
  write: (value, writer) => writer.write32(value),
  validate: (value) => {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new TypeError(`u32 out of range: ${value}`)
  }
})

/**
 * BCS u64 carried as a JavaScript number. Epochs, timestamps, stakes and nonces never come near 2^53;
 * a value above `Number.MAX_SAFE_INTEGER` is refused rather than silently rounded (rounding would change
 * the bytes and so the digest).
 */
export const u64 = new BcsType<number, number>({
  name: "u64",
  read: (reader) => {
    need(reader, 8, "u64")
    const low = reader.read32()
    const high = reader.read32()
    if (high > 0x1f_ffff) throw new ReadFailure("InvalidValue", "u64 above 2^53-1")
    return high * 0x1_0000_0000 + low
  },
  write: (value, writer) => {
    writer.write32(value % 0x1_0000_0000)
    writer.write32(Math.floor(value / 0x1_0000_0000))
  },
  validate: (value) => {
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`u64 out of range: ${value}`)
  }
})

/**
 * A fixed-size byte array (digests, keys, signatures), as a view into the input: its size is fixed by
 * the type, never read from the input, so nothing is allocated but the view.
 */
export const fixedBytes = (size: number, name = `bytes[${size}]`) =>
  new BcsType<Uint8Array, Uint8Array>({
    name,
    read: (reader) => {
      need(reader, size, name)
      return reader.readBytes(size)
    },
    write: (value, writer) => writer.writeBytes(value),
    validate: (value) => {
      if (!(value instanceof Uint8Array) || value.length !== size) throw new TypeError(`${name} must be ${size} bytes`)
    }
  })

/**
 * A length-prefixed byte string of at most `max` bytes, as a view into the input: the length is checked
 * against `max` and against what is left of the input before the view is made.
 */
export const boundedBytes = (max: number, name = "vector<u8>") =>
  new BcsType<Uint8Array, Uint8Array>({
    name,
    read: (reader) => {
      const length = readLength(reader, max, name)
      need(reader, length, name)
      return reader.readBytes(length)
    },
    write: (value, writer) => {
      writer.writeULEB(value.length)
      writer.writeBytes(value)
    },
    validate: (value) => {
      if (!(value instanceof Uint8Array) || value.length > max) throw new TypeError(`${name} longer than ${max} bytes`)
    }
  })

/**
 * A byte field decoded into its own buffer: for values that outlive the bytes they were decoded from
 * (a view of a few bytes would keep a whole response message alive).
 */
export const ownedBytes = (inner: BcsType<Uint8Array, Uint8Array>): BcsType<Uint8Array, Uint8Array> =>
  new BcsType<Uint8Array, Uint8Array>({
    name: inner.name,
    read: (reader) => inner.read(reader).slice(),
    write: (value, writer) => inner.write(value, writer),
    validate: (value) => inner.validate(value)
  })

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/** A UTF-8 string of at most `maxBytes` encoded bytes. */
export const boundedString = (maxBytes: number, name = "string") =>
  new BcsType<string, string>({
    name,
    read: (reader) => {
      const length = readLength(reader, maxBytes, name)
      need(reader, length, name)
      try {
        return utf8Decoder.decode(reader.readBytes(length))
      } catch {
        throw new ReadFailure("InvalidValue", `${name}: not UTF-8`)
      }
    },
    write: (value, writer) => {
      const encoded = utf8Encoder.encode(value)
      writer.writeULEB(encoded.length)
      writer.writeBytes(encoded)
    },
    validate: (value) => {
      if (typeof value !== "string" || utf8Encoder.encode(value).length > maxBytes)
        throw new TypeError(`${name} longer than ${maxBytes} bytes`)
    }
  })

/**
 * A vector of at most `max` elements. The bound is checked, and each element must have at least
 * `minElementBytes` left in the input, before the array is allocated — a forged length cannot make us
 * allocate in proportion to it.
 */
export const boundedVector = <T>(element: BcsType<T, T>, max: number, minElementBytes = 1, name = `vector<${element.name}>`) =>
  new BcsType<ReadonlyArray<T>, ReadonlyArray<T>>({
    name,
    read: (reader) => {
      const length = readLength(reader, max, name)
      if (length * minElementBytes > remaining(reader))
        throw new ReadFailure("Truncated", `${name}: ${length} elements cannot fit in ${remaining(reader)} bytes`)
      const out: Array<T> = []
      for (let i = 0; i < length; i++) out.push(element.read(reader))
      return out
    },
    write: (value, writer) => {
      writer.writeULEB(value.length)
      for (const item of value) element.write(item, writer)
    },
    validate: (value) => {
      if (!Array.isArray(value) || value.length > max) throw new TypeError(`${name} longer than ${max}`)
    }
  })

/** `Option<T>` with a strict 0/1 tag; `null` stands for None. */
export const option = <T>(inner: BcsType<T, T>, name = `Option<${inner.name}>`) =>
  new BcsType<T | null, T | null>({
    name,
    read: (reader) => {
      need(reader, 1, name)
      const tag = reader.read8()
      if (tag === 0) return null
      if (tag === 1) return inner.read(reader)
      throw new ReadFailure("InvalidValue", `${name}: tag ${tag}`)
    },
    write: (value, writer) => {
      if (value === null) writer.write8(0)
      else {
        writer.write8(1)
        inner.write(value, writer)
      }
    }
  })

/** A unit-only enum encoded as a ULEB variant index (`variants[i]` ↔ i). */
export const unitEnum = <const V extends string>(name: string, variants: ReadonlyArray<V>) =>
  new BcsType<V, V>({
    name,
    read: (reader) => {
      const index = readLength(reader, variants.length - 1, name)
      return variants[index] as V
    },
    write: (value, writer) => {
      writer.writeULEB(variants.indexOf(value))
    },
    validate: (value) => {
      if (!variants.includes(value)) throw new TypeError(`${name}: unknown variant ${String(value)}`)
    }
  })

/** `bcs.struct` re-exported so every codec is built from this module. */
export const struct = bcs.struct

/** Reads a ULEB variant index (for tagged enums with payloads, written by hand in their modules). */
export const readVariant = (reader: BcsReader, variantCount: number, name: string): number =>
  readLength(reader, variantCount - 1, name)

/** Raises a decoding failure from inside a hand-written reader. */
export const failRead = (reason: DecodeFailure, detail: string): never => {
  throw new ReadFailure(reason, detail)
}

/** Decodes untrusted bytes as exactly one value of `type`; never throws. */
export const decodeBcs = <T, I>(type: BcsType<T, I>, bytes: Uint8Array): Either.Either<T, DecodeError> => {
  try {
    const reader = new BcsReader(bytes)
    const value = type.read(reader)
    const left = bytes.length - position(reader)
    if (left !== 0) return Either.left(new DecodeError({ type: type.name, reason: "TrailingBytes", detail: `${left} bytes after the value` }))
    return Either.right(value)
  } catch (error) {
    if (error instanceof ReadFailure) return Either.left(new DecodeError({ type: type.name, reason: error.reason, detail: error.detail }))
    // A RangeError from a DataView read means the input ended early; anything else is still the peer's bytes.
    const detail = error instanceof Error ? error.message : String(error)
    return Either.left(new DecodeError({ type: type.name, reason: error instanceof RangeError ? "Truncated" : "InvalidValue", detail }))
  }
}

/** Canonical bytes of a value (throws only on a value our own code built wrongly — a defect). */
export const encodeBcs = <T>(type: BcsType<T, T>, value: T): Uint8Array => type.serialize(value).toBytes()
