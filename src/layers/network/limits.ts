/**
 * Limits and timings shared by both `Network` layers, so that the simulation behaves like gRPC.
 */

/** Largest message either way: tonic's and grpc-js's default, and Soma's FetchBlocks chunk size. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024

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
