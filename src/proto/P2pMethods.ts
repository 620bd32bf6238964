/**
 * The six methods of `soma.p2p.v1.P2p` (DESIGN.md §4) as `Network` method descriptors, with codecs
 * over the messages generated from `proto/soma/p2p/v1/p2p.proto` (`npm run proto:gen`). Response
 * decoders check counts and lengths on the raw bytes first (`responseLimits`); requests are checked by
 * the P2P server's route policies (`layers/server/routes.ts`) before they are decoded.
 */
import { Either } from "effect"
import { checkedCodec, protoCodec, serverStreamMethod, unaryMethod, type Codec } from "./codec.js"
import {
  BLOCK_REF_LENGTH,
  MAX_BLOCKS_PER_MESSAGE,
  MAX_CERTIFIER_REFS_PER_RESPONSE,
  MAX_COMMITS_PER_RESPONSE,
  MAX_KNOWN_PEERS_PER_RESPONSE,
  MAX_SIGNED_NODE_INFO_BYTES
} from "./limits.js"
import * as pb from "./soma/p2p/v1/p2p.pb.js"
import { describeScanFailure, scanMessage, type FieldLimit } from "./wireScan.js"

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5)

/**
 * The codec of `FetchBlocksResponse` (`repeated bytes blocks = 1`), the bulk of state sync: same bytes
 * as the generated encoder, written once into a buffer of the exact size. The generated writer grows
 * a zeroed buffer by doubling and copies it out again, which triples the allocation of a 4 MiB
 * message and shows up as garbage-collector time when streaming.
 */
export const fetchBlocksResponseCodec: Codec<pb.FetchBlocksResponse> = {
  encode: (message) => {
    let size = 0
    for (const block of message.blocks) size += 1 + varintSize(block.length) + block.length
    const out = Buffer.allocUnsafe(size) // every byte is written below
    let pos = 0
    for (const block of message.blocks) {
      out[pos++] = 0x0a // field 1, wire type 2
      let length = block.length
      while (length > 0x7f) {
        out[pos++] = (length & 0x7f) | 0x80
        length >>>= 7
      }
      out[pos++] = length
      out.set(block, pos)
      pos += block.length
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  },
  decode: protoCodec(pb.FetchBlocksResponse).decode
}

/** `codec` whose decoder first checks the counts and lengths of `limits` on the raw bytes. */
const bounded = <A>(codec: Codec<A>, limits: ReadonlyArray<FieldLimit>): Codec<A> =>
  checkedCodec(codec, (bytes) => Either.mapLeft(scanMessage(bytes, limits), describeScanFailure))

/**
 * The limits a client checks on each response before decoding it (a peer could otherwise make us
 * allocate an object per entry of a 4 MiB message). An answer over them is a protocol violation, not
 * truncated: our servers never send one, so a peer that does is not an honest peer of this protocol.
 */
export const responseLimits = {
  GetKnownPeers: [
    { field: 1, name: "ownInfo", maxCount: 1, maxLength: MAX_SIGNED_NODE_INFO_BYTES },
    { field: 2, name: "knownPeers", maxCount: MAX_KNOWN_PEERS_PER_RESPONSE, maxLength: MAX_SIGNED_NODE_INFO_BYTES }
  ],
  FetchCommits: [
    { field: 1, name: "commits", maxCount: MAX_COMMITS_PER_RESPONSE },
    { field: 3, name: "certifierRefs", maxCount: MAX_CERTIFIER_REFS_PER_RESPONSE, exactLength: BLOCK_REF_LENGTH }
  ],
  FetchBlocks: [{ field: 1, name: "blocks", maxCount: MAX_BLOCKS_PER_MESSAGE }]
} as const satisfies Record<string, ReadonlyArray<FieldLimit>>

/** Fully qualified name of the P2P service. */
export const P2P_SERVICE = "soma.p2p.v1.P2p"

/** Method descriptors of the P2P service. */
export const P2pMethods = {
  GetKnownPeers: unaryMethod(
    P2P_SERVICE,
    "GetKnownPeers",
    protoCodec(pb.GetKnownPeersRequest),
    bounded(protoCodec(pb.GetKnownPeersResponse), responseLimits.GetKnownPeers)
  ),
  GetCommitAvailability: unaryMethod(
    P2P_SERVICE,
    "GetCommitAvailability",
    protoCodec(pb.GetCommitAvailabilityRequest),
    protoCodec(pb.GetCommitAvailabilityResponse)
  ),
  GetCommitInfo: unaryMethod(P2P_SERVICE, "GetCommitInfo", protoCodec(pb.GetCommitInfoRequest), protoCodec(pb.GetCommitInfoResponse)),
  PushCommit: unaryMethod(P2P_SERVICE, "PushCommit", protoCodec(pb.PushCommitRequest), protoCodec(pb.PushCommitResponse)),
  FetchCommits: unaryMethod(
    P2P_SERVICE,
    "FetchCommits",
    protoCodec(pb.FetchCommitsRequest),
    bounded(protoCodec(pb.FetchCommitsResponse), responseLimits.FetchCommits)
  ),
  FetchBlocks: serverStreamMethod(P2P_SERVICE, "FetchBlocks", protoCodec(pb.FetchBlocksRequest), bounded(fetchBlocksResponseCodec, responseLimits.FetchBlocks))
} as const

/** The paths of the six P2P routes. */
export const P2P_PATHS: ReadonlySet<string> = new Set(Object.values(P2pMethods).map((method) => method.path))
