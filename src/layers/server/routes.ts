/**
 * The six P2P routes, each with its policy: the limits that travel with the route (architecture
 * review P1). Everything here is checked on the request's bytes, before the request is decoded; the
 * values and their reasons are in `constants.ts`.
 */
import { P2pMethods } from "../../proto/P2pMethods.js"
import type { MethodDescriptor } from "../../proto/codec.js"
import type { P2pRoute, RoutePolicy } from "../../services/P2pServer.js"
import {
  BLOCK_REF_LENGTH,
  FETCH_BLOCKS_REQUEST_BYTES,
  MAX_BLOCK_REFS_PER_REQUEST,
  MAX_OWN_INFO_BYTES,
  SMALL_REQUEST_BYTES
} from "./constants.js"

const route = <Kind extends "unary" | "serverStream", Req, Res>(method: MethodDescriptor<Kind, Req, Res>, policy: RoutePolicy): P2pRoute<Kind, Req, Res> => ({
  method,
  policy
})

/**
 * The routes. In-flight limits: an honest peer has at most a discovery query, a height poll, a push
 * and three sync requests (`MAX_REQUESTS_PER_PEER`) with us at once; the global limits bound what all
 * callers together can make us hold (FetchBlocks: ≤ 2 messages of 4 MiB each per stream, so 32
 * streams ≤ 256 MiB).
 */
export const P2pRoutes = {
  GetKnownPeers: route(P2pMethods.GetKnownPeers, {
    // The largest SignedNodeInfo and its framing, nothing more.
    maxRequestBytes: MAX_OWN_INFO_BYTES + 8,
    fields: [{ field: 1, name: "ownInfo", maxCount: 1, maxLength: MAX_OWN_INFO_BYTES }],
    maxInFlightPerPeer: 2,
    maxInFlight: 64
  }),
  GetCommitAvailability: route(P2pMethods.GetCommitAvailability, { maxRequestBytes: SMALL_REQUEST_BYTES, fields: [], maxInFlightPerPeer: 4, maxInFlight: 256 }),
  GetCommitInfo: route(P2pMethods.GetCommitInfo, { maxRequestBytes: SMALL_REQUEST_BYTES, fields: [], maxInFlightPerPeer: 4, maxInFlight: 256 }),
  PushCommit: route(P2pMethods.PushCommit, {
    maxRequestBytes: SMALL_REQUEST_BYTES,
    fields: [{ field: 1, name: "commitRef", maxCount: 1 }],
    maxInFlightPerPeer: 8,
    maxInFlight: 256
  }),
  FetchCommits: route(P2pMethods.FetchCommits, { maxRequestBytes: SMALL_REQUEST_BYTES, fields: [], maxInFlightPerPeer: 4, maxInFlight: 64 }),
  FetchBlocks: route(P2pMethods.FetchBlocks, {
    maxRequestBytes: FETCH_BLOCKS_REQUEST_BYTES,
    fields: [
      { field: 1, name: "blockRefs", maxCount: MAX_BLOCK_REFS_PER_REQUEST, exactLength: BLOCK_REF_LENGTH, countUnit: "refs per request", what: "BCS BlockRef" }
    ],
    maxInFlightPerPeer: 4,
    maxInFlight: 32
  })
} as const

/** Any of the six routes. */
export type AnyP2pRoute = (typeof P2pRoutes)[keyof typeof P2pRoutes]

/** The route of a gRPC path, if it is one of the six. */
export const routeOfPath: ReadonlyMap<string, AnyP2pRoute> = new Map(Object.values(P2pRoutes).map((r) => [r.method.path, r] as const))
