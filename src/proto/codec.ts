/**
 * Codecs and method descriptors: how a message becomes bytes and back, and how a gRPC method is
 * described (route, kind, request and response codecs). Both `Network` layers, the P2P server and the
 * clients work from these; `services/Network.ts` re-exports them for the code that imports them there.
 */
import { BinaryReader, type BinaryWriter } from "@bufbuild/protobuf/wire"
import { Either } from "effect"

/** How a message becomes bytes and back. `decode` takes untrusted bytes and never throws. */
export interface Codec<A> {
  readonly encode: (value: A) => Uint8Array
  /** The decoded value, or why the bytes are not a valid encoding. */
  readonly decode: (bytes: Uint8Array) => Either.Either<A, string>
}

/** The functions ts-proto generates for a message. */
export interface ProtoMessageFns<A> {
  encode(message: A, writer?: BinaryWriter): BinaryWriter
  decode(input: BinaryReader | Uint8Array, length?: number): A
}

/**
 * The codec of a generated protobuf message. Decoding is strict where protobuf readers are lenient:
 * the whole input must be consumed (the generated decoder stops silently at a zero tag), so garbage
 * that happens to start like a message is refused.
 */
export const protoCodec = <A>(fns: ProtoMessageFns<A>): Codec<A> => ({
  encode: (value) => fns.encode(value).finish(),
  decode: (bytes) => {
    try {
      const reader = new BinaryReader(bytes)
      const value = fns.decode(reader)
      return reader.pos === reader.len ? Either.right(value) : Either.left(`invalid protobuf: stopped at byte ${reader.pos} of ${reader.len}`)
    } catch (error) {
      return Either.left(`invalid protobuf: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
})

/**
 * `codec` behind a check of the raw bytes: `check` runs first (it must not allocate in proportion to
 * anything it has not bounded) and its refusal is the decode error, so the full decoder never sees
 * bytes that break a limit.
 */
export const checkedCodec = <A>(codec: Codec<A>, check: (bytes: Uint8Array) => Either.Either<void, string>): Codec<A> => ({
  encode: codec.encode,
  decode: (bytes) => Either.flatMap(check(bytes), () => codec.decode(bytes))
})

/** A unary (`kind: "unary"`) or server-streaming (`kind: "serverStream"`) method of a gRPC service. */
export interface MethodDescriptor<Kind extends "unary" | "serverStream", Req, Res> {
  readonly kind: Kind
  /** Fully qualified service name, e.g. `soma.p2p.v1.P2p`. */
  readonly service: string
  /** Method name, e.g. `FetchBlocks`. */
  readonly method: string
  /** The gRPC route: `/<service>/<method>`. */
  readonly path: string
  readonly request: Codec<Req>
  readonly response: Codec<Res>
}

/** A unary method: one request, one response. */
export type UnaryMethod<Req, Res> = MethodDescriptor<"unary", Req, Res>
/** A server-streaming method: one request, a stream of responses. */
export type ServerStreamMethod<Req, Res> = MethodDescriptor<"serverStream", Req, Res>

/** Describes a unary method. */
export const unaryMethod = <Req, Res>(service: string, method: string, request: Codec<Req>, response: Codec<Res>): UnaryMethod<Req, Res> => ({
  kind: "unary",
  service,
  method,
  path: `/${service}/${method}`,
  request,
  response
})

/** Describes a server-streaming method. */
export const serverStreamMethod = <Req, Res>(
  service: string,
  method: string,
  request: Codec<Req>,
  response: Codec<Res>
): ServerStreamMethod<Req, Res> => ({ kind: "serverStream", service, method, path: `/${service}/${method}`, request, response })

/** The identity codec: the bytes as they came. A route registered with it gets the request undecoded. */
export const rawBytesCodec: Codec<Uint8Array> = { encode: (bytes) => bytes, decode: (bytes) => Either.right(bytes) }
