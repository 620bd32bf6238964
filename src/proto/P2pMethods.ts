/**
 * The six methods of `soma.p2p.v1.P2p` (DESIGN.md §4) as `Network` method descriptors, with codecs
 * over the messages generated from `proto/soma/p2p/v1/p2p.proto` (`npm run proto:gen`).
 */
import { protoCodec, serverStreamMethod, unaryMethod, type Codec } from "../services/Network.js"
import * as pb from "./soma/p2p/v1/p2p.pb.js"

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

/** Fully qualified name of the P2P service. */
export const P2P_SERVICE = "soma.p2p.v1.P2p"

/** Method descriptors of the P2P service. */
export const P2pMethods = {
  GetKnownPeers: unaryMethod(P2P_SERVICE, "GetKnownPeers", protoCodec(pb.GetKnownPeersRequest), protoCodec(pb.GetKnownPeersResponse)),
  GetCommitAvailability: unaryMethod(
    P2P_SERVICE,
    "GetCommitAvailability",
    protoCodec(pb.GetCommitAvailabilityRequest),
    protoCodec(pb.GetCommitAvailabilityResponse)
  ),
  GetCommitInfo: unaryMethod(P2P_SERVICE, "GetCommitInfo", protoCodec(pb.GetCommitInfoRequest), protoCodec(pb.GetCommitInfoResponse)),
  PushCommit: unaryMethod(P2P_SERVICE, "PushCommit", protoCodec(pb.PushCommitRequest), protoCodec(pb.PushCommitResponse)),
  FetchCommits: unaryMethod(P2P_SERVICE, "FetchCommits", protoCodec(pb.FetchCommitsRequest), protoCodec(pb.FetchCommitsResponse)),
  FetchBlocks: serverStreamMethod(P2P_SERVICE, "FetchBlocks", protoCodec(pb.FetchBlocksRequest), fetchBlocksResponseCodec)
} as const
