import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, Schema } from "effect"
import * as fc from "fast-check"
import { BlockBcs, SignedBlock, SignedBlockBcs, decodeSignedBlock, encodeSignedBlock } from "../../src/domain/block.js"
import { boundedBytes, decodeBcs, encodeBcs, fixedBytes } from "../../src/domain/codec.js"
import { Commit, CommitBcs, decodeCommit } from "../../src/domain/commit.js"
import { Committee, CommitteeBcs } from "../../src/domain/committee.js"
import { MAX_ANCESTORS, MAX_NODE_ADDRESSES, MAX_TRANSACTION_BYTES } from "../../src/domain/limits.js"
import { NodeInfoBcs, SignedNodeInfo, SignedNodeInfoBcs, decodeSignedNodeInfo } from "../../src/domain/nodeInfo.js"
import { BlockRef, BlockRefBcs, CommitRef, CommitRefBcs } from "../../src/domain/refs.js"
import { CertifiedTransaction, CertifiedTransactionBcs } from "../../src/domain/transaction.js"
import type { BcsType } from "@mysten/bcs"

// Each type of the data model, with its Schema (for generating values) and its BCS layout.
const cases: ReadonlyArray<readonly [string, Schema.Schema<any, any>, BcsType<any, any>]> = [
  ["BlockRef", BlockRef, BlockRefBcs],
  ["CommitRef", CommitRef, CommitRefBcs],
  ["Committee", Committee, CommitteeBcs],
  ["CertifiedTransaction", CertifiedTransaction, CertifiedTransactionBcs],
  ["SignedBlock", SignedBlock, SignedBlockBcs],
  ["Commit", Commit, CommitBcs],
  ["SignedNodeInfo", SignedNodeInfo, SignedNodeInfoBcs]
]

describe("canonical BCS codecs", () => {
  for (const [name, schema, codec] of cases) {
    const arbitrary = Arbitrary.make(schema)

    it(`${name}: decode(encode(x)) = x, and decoded values satisfy the Schema`, () => {
      fc.assert(
        fc.property(arbitrary, (value) => {
          const decoded = decodeBcs(codec, encodeBcs(codec, value))
          expect(Either.isRight(decoded)).toBe(true)
          const out = Either.getOrThrow(decoded)
          expect(out).toEqual(value)
          expect(Schema.is(schema)(out)).toBe(true)
        }),
        { numRuns: 60 }
      )
    })

    it(`${name}: any decodable bytes are canonical (re-encoding gives the same bytes), and nothing throws`, () => {
      const mutated = arbitrary.chain((value) => {
        const bytes = encodeBcs(codec, value)
        return fc.oneof(
          // flip one byte
          fc.tuple(fc.nat(Math.max(bytes.length - 1, 0)), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const copy = bytes.slice()
            copy[i] = (copy[i] as number) ^ x
            return copy
          }),
          // cut the tail
          fc.nat(Math.max(bytes.length - 1, 0)).map((n) => bytes.slice(0, n)),
          // append garbage
          fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => Uint8Array.of(...bytes, ...extra)),
          // pure noise
          fc.uint8Array({ maxLength: 300 })
        )
      })
      fc.assert(
        fc.property(mutated, (bytes) => {
          const decoded = decodeBcs(codec, bytes)
          if (Either.isRight(decoded)) expect(encodeBcs(codec, decoded.right)).toEqual(bytes)
          else expect(decoded.left._tag).toBe("DecodeError")
        }),
        { numRuns: 150 }
      )
    })
  }
})

describe("decoding untrusted bytes returns a typed error naming the problem", () => {
  const sample = fc.sample(Arbitrary.make(SignedBlock), { numRuns: 1, seed: 7 })[0] as SignedBlock
  const bytes = encodeSignedBlock(sample)

  it("truncated input", () => {
    const result = decodeSignedBlock(bytes.slice(0, bytes.length - 1))
    expect(Either.isLeft(result) && result.left.reason).toBe("Truncated")
  })

  it("trailing bytes", () => {
    const result = decodeSignedBlock(Uint8Array.of(...bytes, 0))
    expect(Either.isLeft(result) && result.left.reason).toBe("TrailingBytes")
  })

  it("a vector length above its bound is refused before allocating", () => {
    // Block header (epoch u64, round u32, author u32, timestamp u64) then a ULEB ancestors length of 2^31.
    const header = new Uint8Array(24)
    const hugeLength = Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x08)
    const result = decodeBcs(BlockBcs, Uint8Array.of(...header, ...hugeLength))
    expect(Either.isLeft(result) && result.left.reason).toBe("VectorTooLong")
    const justOverUleb = Uint8Array.of(((MAX_ANCESTORS + 1) & 0x7f) | 0x80, (MAX_ANCESTORS + 1) >> 7)
    const justOver = decodeBcs(BlockBcs, Uint8Array.of(...header, ...justOverUleb))
    expect(Either.isLeft(justOver) && justOver.left.reason).toBe("VectorTooLong")
  })

  it("a length within bounds that cannot fit the remaining input is truncation, not an allocation", () => {
    const header = new Uint8Array(24)
    const result = decodeBcs(BlockBcs, Uint8Array.of(...header, 200, 1, 2, 3))
    expect(Either.isLeft(result) && result.left.reason).toBe("Truncated")
  })

  it("non-canonical length prefixes and option tags are refused", () => {
    const header = new Uint8Array(24)
    const paddedZero = decodeBcs(BlockBcs, Uint8Array.of(...header, 0x80, 0x00))
    expect(Either.isLeft(paddedZero) && paddedZero.left.reason).toBe("InvalidValue")
    // A commit with an empty block list followed by an option tag of 2 in a block would be InvalidValue;
    // check the option tag directly on a minimal block: no ancestors/txs/votes, tag 2.
    const badTag = decodeBcs(BlockBcs, Uint8Array.of(...header, 0, 0, 0, 2))
    expect(Either.isLeft(badTag) && badTag.left.reason).toBe("InvalidValue")
  })

  it("u64 values above 2^53-1 are refused instead of rounded", () => {
    const commitBytes = new Uint8Array(4 + 32 + 8 + 48 + 1 + 8) // index, previousDigest, timestamp, leader, no blocks, epoch
    commitBytes.fill(0xff, commitBytes.length - 8) // epoch = 2^64-1
    const result = decodeCommit(commitBytes)
    expect(Either.isLeft(result) && result.left.reason).toBe("InvalidValue")
  })

  it(`a NodeInfo with more than ${MAX_NODE_ADDRESSES} addresses is refused`, () => {
    const info = {
      peerId: "ab".repeat(32),
      addresses: Array.from({ length: MAX_NODE_ADDRESSES + 1 }, (_, i) => `/ip4/127.0.0.1/tcp/${i}`),
      timestampMs: 1,
      role: "FullNode",
      capabilities: 0
    }
    // Encode without validation by writing the vector by hand: header fields, then 5 addresses.
    const ok = encodeBcs(NodeInfoBcs, { ...info, addresses: info.addresses.slice(0, MAX_NODE_ADDRESSES) } as never)
    const five = Uint8Array.of(...ok.slice(0, 32), MAX_NODE_ADDRESSES + 1, ...ok.slice(33))
    const result = decodeSignedNodeInfo(Uint8Array.of(...five, ...new Uint8Array(64)))
    expect(Either.isLeft(result) && result.left.reason).toBe("VectorTooLong")
  })

  it("a wrong-length key in JSON config is refused by the Schema with a clear message", () => {
    const result = Schema.decodeUnknownEither(CommitRef)({ index: 1, digest: "00".repeat(31) })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(String(result.left.message)).toContain("Digest must be 32 bytes, got 31")
  })
})

describe("byte fields decode as views into the input, never as copies sized by the input", () => {
  const sample = fc.sample(Arbitrary.make(SignedBlock), { numRuns: 1, seed: 11 })[0] as SignedBlock
  const block: SignedBlock = {
    ...sample,
    block: { ...sample.block, transactions: [Uint8Array.of(1, 2, 3), new Uint8Array(700).fill(9)] }
  }
  // Inside a larger buffer, at an offset, as a block arrives inside a gRPC message.
  const encoded = encodeSignedBlock(block)
  const message = new Uint8Array(encoded.length + 100)
  message.set(encoded, 40)
  const bytes = message.subarray(40, 40 + encoded.length)

  it("digests, signatures and transactions share the input's buffer, at their place in it", () => {
    const decoded = Either.getOrThrow(decodeSignedBlock(bytes))
    expect(decoded).toEqual(block)
    const fields = [
      decoded.signature,
      ...decoded.block.transactions,
      ...decoded.block.ancestors.map((a) => a.digest),
      ...decoded.block.commitVotes.map((v) => v.digest)
    ]
    expect(fields.length).toBeGreaterThan(3)
    for (const field of fields) {
      expect(field.buffer).toBe(message.buffer)
      expect(field.byteOffset).toBeGreaterThanOrEqual(bytes.byteOffset)
      expect(field.byteOffset + field.length).toBeLessThanOrEqual(bytes.byteOffset + bytes.length)
    }
    // The signature is the last 64 bytes of a SignedBlock.
    expect(decoded.signature.byteOffset).toBe(bytes.byteOffset + bytes.length - 64)
  })

  it("a length prefix is judged against its bound and the input left before any view: no allocation follows a forged length", () => {
    const field = boundedBytes(MAX_TRANSACTION_BYTES, "transaction")
    // Within the bound, but far longer than the input: truncation, and no view (or copy) was made.
    const within = Uint8Array.of(0x80, 0x80, 0x02, 1, 2, 3) // ULEB 32,768
    const truncated = decodeBcs(field, within)
    expect(Either.isLeft(truncated) && truncated.left.reason).toBe("Truncated")
    // Above the bound: refused from the prefix alone.
    const over = Uint8Array.of(0x81, 0x80, 0x04) // ULEB 65,537
    const refused = decodeBcs(field, over)
    expect(Either.isLeft(refused) && refused.left.reason).toBe("VectorTooLong")
    // A fixed-size field's size comes from the type, never from the input.
    const short = decodeBcs(fixedBytes(32, "digest"), new Uint8Array(31))
    expect(Either.isLeft(short) && short.left.reason).toBe("Truncated")
    // What does decode allocates no byte storage: its bytes are the input's own.
    const exact = Uint8Array.of(3, 7, 8, 9)
    const decoded = Either.getOrThrow(decodeBcs(field, exact))
    expect([...decoded]).toEqual([7, 8, 9])
    expect(decoded.buffer).toBe(exact.buffer)
  })

  it("a NodeInfo signature, kept in peer tables long after its message, is copied out", () => {
    const info = fc.sample(Arbitrary.make(SignedNodeInfo), { numRuns: 1, seed: 5 })[0] as SignedNodeInfo
    const infoBytes = encodeBcs(SignedNodeInfoBcs, info)
    const decoded = Either.getOrThrow(decodeSignedNodeInfo(infoBytes))
    expect(decoded).toEqual(info)
    expect(decoded.signature.buffer).not.toBe(infoBytes.buffer)
    expect(decoded.signature.byteLength).toBe(decoded.signature.buffer.byteLength)
  })
})
