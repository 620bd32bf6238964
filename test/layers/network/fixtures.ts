/**
 * Shared fixtures of the network tests: deterministic network keys, and test methods with their own
 * codecs (the `Network` interface carries any method a test defines).
 */
import { createHash, createPrivateKey, createPublicKey } from "node:crypto"
import { Either } from "effect"
import { peerIdFromPublicKey, type PeerId } from "../../../src/domain/PeerId.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import type { Ed25519Keypair } from "../../../src/services/Crypto.js"
import { protoCodec, serverStreamMethod, unaryMethod, type Codec } from "../../../src/services/Network.js"

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")

/** The network key pair number `index` of a test (deterministic). */
export const testKeypair = (index: number, label = "network-test"): Ed25519Keypair => {
  const seed = createHash("sha256").update(`${label}/${index}`).digest()
  const spki = createPublicKey(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" })).export({
    format: "der",
    type: "spki"
  })
  return { seed: new Uint8Array(seed), publicKey: new Uint8Array(spki.subarray(spki.length - 32)) }
}

/** The PeerId of test key pair `index`. */
export const testPeerId = (index: number, label?: string): PeerId => peerIdFromPublicKey(testKeypair(index, label).publicKey)

/** JSON over UTF-8; decoding refuses invalid UTF-8 and invalid JSON. */
export const jsonCodec = <A>(): Codec<A> => ({
  encode: (value) => new TextEncoder().encode(JSON.stringify(value)),
  decode: (bytes) => {
    try {
      return Either.right(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as A)
    } catch (error) {
      return Either.left(`invalid JSON: ${String(error)}`)
    }
  }
})

/** Bytes as they are: lets a test send anything. */
export const rawCodec: Codec<Uint8Array> = { encode: (bytes) => bytes, decode: (bytes) => Either.right(bytes) }

const TEST_SERVICE = "soma.test.v1.NetworkContract"

/** Echoes the text, prefixed with the caller's PeerId as the server saw it. */
export const Echo = unaryMethod(TEST_SERVICE, "Echo", jsonCodec<{ readonly text: string }>(), jsonCodec<{ readonly caller: string; readonly text: string }>())
/** Sleeps `ms` (server side) then answers. */
export const Slow = unaryMethod(TEST_SERVICE, "Slow", jsonCodec<{ readonly ms: number }>(), jsonCodec<{ readonly done: boolean }>())
/** Fails with the status named in the request, or dies when asked to. */
export const Fail = unaryMethod(TEST_SERVICE, "Fail", jsonCodec<{ readonly code: string }>(), jsonCodec<{ readonly never: boolean }>())
/** Streams `count` messages of `size` bytes, optionally sleeping `delayMs` before each. */
export const Count = serverStreamMethod(
  TEST_SERVICE,
  "Count",
  jsonCodec<{ readonly count: number; readonly size: number; readonly delayMs: number }>(),
  protoCodec(pb.FetchBlocksResponse)
)
/** A strict protobuf request (served with the generated codec). */
export const Strict = unaryMethod(TEST_SERVICE, "Strict", protoCodec(pb.FetchCommitsRequest), protoCodec(pb.FetchCommitsResponse))
/** The same route as `Strict`, with a client that sends raw bytes. */
export const StrictRaw = unaryMethod(TEST_SERVICE, "Strict", rawCodec, protoCodec(pb.FetchCommitsResponse))
/** A route whose server answers raw bytes. */
export const GarbageRaw = unaryMethod(TEST_SERVICE, "Garbage", jsonCodec<{ readonly n: number }>(), rawCodec)
/** The same route as `GarbageRaw`, with a client that expects a protobuf answer. */
export const Garbage = unaryMethod(TEST_SERVICE, "Garbage", jsonCodec<{ readonly n: number }>(), protoCodec(pb.FetchCommitsResponse))
/** A route nobody serves. */
export const Unknown = unaryMethod(TEST_SERVICE, "Unknown", jsonCodec<{ readonly n: number }>(), jsonCodec<{ readonly n: number }>())
/** Answers with a response of `bytes` bytes. */
export const Big = unaryMethod(TEST_SERVICE, "Big", jsonCodec<{ readonly bytes: number }>(), rawCodec)
/** Accepts any request bytes (for oversized requests). */
export const Sink = unaryMethod(TEST_SERVICE, "Sink", rawCodec, jsonCodec<{ readonly received: number }>())
