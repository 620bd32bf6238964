/**
 * Zero-copy views between Node's `Buffer` (what grpc-js moves) and plain `Uint8Array` (what codecs
 * and the domain use, and what the simulation hands out, so decoded values look the same on both).
 */

/** A `Buffer` over the same memory. */
export const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** A plain `Uint8Array` over the same memory. */
export const toUint8Array = (bytes: Buffer): Uint8Array => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The identity (de)serializer: grpc-js moves bytes, codecs run in our code where failures are typed. */
export const identity = (value: Buffer): Buffer => value
