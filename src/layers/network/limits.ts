/**
 * Limits and timings shared by both `Network` layers, so that the simulation behaves like gRPC.
 */

/**
 * Largest message: tonic's and grpc-js's default, and Soma's FetchBlocks chunk size. The gRPC transport
 * applies it to responses only; requests are capped at `MAX_REQUEST_BYTES`.
 */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/**
 * Largest request the gRPC transport accepts, after decompression. The largest valid P2P request is a
 * FetchBlocks request of 1,000 block refs of 48 bytes (≈ 52 KB with protobuf framing); everything else
 * is tiny. 64 KiB leaves room for that and nothing near the 4 MiB a response may need, so a hostile
 * request (or a gzip bomb, which grpc-js stops inflating at this size) costs the server at most 64 KiB
 * before any of our code runs. Per-route limits above the transport are tighter still.
 */
export const MAX_REQUEST_BYTES = 64 * 1024

/** Time a dial may take (Soma's CONNECT_TIMEOUT). */
export const CONNECT_TIMEOUT_MS = 5_000

/**
 * Default cap on one peer's concurrent inbound calls. State sync keeps a handful of ranges and block
 * chunks in flight per peer, far below it; at 4 MiB per response it bounds one peer's share of
 * buffered responses to 128 MiB.
 */
export const DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER = 32

/**
 * Peer events kept for a subscriber that lags (Soma's broadcast capacity). The PubSub slides: the
 * oldest event is dropped rather than blocking the network.
 */
export const PEER_EVENTS_CAPACITY = 1_000

/** HTTP/2 keepalive ping interval: finds a dead connection within interval + timeout. */
export const KEEPALIVE_TIME_MS = 10_000
/** How long a keepalive ping may go unanswered before the connection is declared lost. */
export const KEEPALIVE_TIMEOUT_MS = 5_000
