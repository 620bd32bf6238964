/**
 * A grpc-js server interceptor that tells the `InboundConnectionTable` when calls start and end on a
 * connection, so that "idle" (no call in flight) is known. It runs when the HTTP/2 stream arrives,
 * before its request is read, so a call that never sends its request still counts as in flight.
 */
import * as grpc from "@grpc/grpc-js"
import type { InboundConnectionTable } from "./inboundConnections.js"

/** Counts the calls in flight per connection (keyed by the call's peer, `host:port`). */
export const callTracking =
  (table: InboundConnectionTable): grpc.ServerInterceptor =>
  (_method, call) => {
    const connection = call.getPeer()
    table.callStarted(connection)
    let ended = false
    return new grpc.ServerInterceptingCall(call, {
      // grpc-js calls onCancel once every call is over, whether it ended with a status or was cancelled.
      start: (next) =>
        next({
          onCancel: () => {
            if (ended) return
            ended = true
            table.callEnded(connection)
          }
        })
    })
  }
