/**
 * gRPC statuses ↔ `Network` errors. A status that a handler (or the shared router) chose carries a
 * trailer marking it, so the client can tell "the peer answered UNAVAILABLE" (RpcRejected) from "the
 * connection failed" (PeerUnavailable), which grpc-js reports with the same code.
 */
import * as grpc from "@grpc/grpc-js"
import type { PeerId } from "../../../domain/PeerId.js"
import {
  DeadlineExceeded,
  PeerUnavailable,
  ProtocolViolation,
  RpcRejected,
  StatusCode,
  statusCodeName,
  type CallError,
  type UnavailableReason
} from "../../../services/Network.js"

/** Trailer key that marks a status chosen by the serving node's handler or router. */
export const STATUS_ORIGIN_METADATA_KEY = "soma-status-origin"
const HANDLER_ORIGIN = "handler"

/** A status response to send, marked as chosen by the handler side. */
export const markedStatus = (code: number, details: string): Partial<grpc.StatusObject> => {
  const metadata = new grpc.Metadata()
  metadata.set(STATUS_ORIGIN_METADATA_KEY, HANDLER_ORIGIN)
  return { code, details, metadata }
}

const isStatus = (error: unknown): error is Partial<grpc.StatusObject> & { readonly code: number } =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "number"

/** What the client knows about a call when it ended. */
export interface CallEnd {
  readonly peerId: PeerId
  readonly path: string
  readonly timeoutMs: number
  /** Set when we closed the connection ourselves (hang-up, shutdown, loss noticed). */
  readonly closedReason: UnavailableReason | undefined
}

/** The `CallError` of a failed grpc-js call. */
export const callErrorOfStatus = (error: unknown, end: CallEnd): CallError => {
  const { peerId, path } = end
  if (!isStatus(error)) {
    return new PeerUnavailable({ peerId, reason: end.closedReason ?? "ConnectionLost", detail: String(error) })
  }
  const details = error.details ?? ""
  if (error.code === StatusCode.DEADLINE_EXCEEDED) return new DeadlineExceeded({ peerId, path, timeoutMs: end.timeoutMs })
  if (end.closedReason !== undefined) return new PeerUnavailable({ peerId, reason: end.closedReason, detail: details })
  if (error.metadata?.get(STATUS_ORIGIN_METADATA_KEY)[0] === HANDLER_ORIGIN) {
    return new RpcRejected({ peerId, path, code: statusCodeName(error.code), detail: details })
  }
  switch (error.code) {
    case StatusCode.UNAVAILABLE:
    case StatusCode.CANCELLED:
      return new PeerUnavailable({ peerId, reason: "ConnectionLost", detail: details })
    case StatusCode.RESOURCE_EXHAUSTED:
      // Not chosen by a handler: grpc-js refused a message above the size limit. Our requests are
      // checked before sending, so it is the peer's response (or the peer enforcing a smaller limit).
      return new ProtocolViolation({ peerId, path, reason: "OversizedMessage", detail: details })
    default:
      return new RpcRejected({ peerId, path, code: statusCodeName(error.code), detail: details })
  }
}
