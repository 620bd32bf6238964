/**
 * Response limits of the P2P routes. A handler that breaks one is a bug on our side, so the answer is
 * logged as an error and never sent as is: an over-long GetKnownPeers answer is cut to its first 200
 * entries (still a valid sample), an over-long FetchCommits answer is refused with INTERNAL (cutting it
 * would drop the commit its certifier blocks vouch for), and a FetchBlocks message over 4 MiB, with
 * more blocks than were asked for or past the answer's 32 MiB of blocks ends the stream with INTERNAL.
 */
import { Effect, Option } from "effect"
import { P2pMethods } from "../../proto/P2pMethods.js"
import { HandlerStatus, type InboundContext } from "../../services/Network.js"
import { shortPeerId } from "../../domain/PeerId.js"
import { MAX_COMMITS_PER_RESPONSE, MAX_FETCH_BLOCKS_ANSWER_BYTES, MAX_KNOWN_PEERS_PER_RESPONSE, MAX_STREAM_MESSAGE_BYTES } from "./constants.js"

const isArray = (u: unknown): u is ReadonlyArray<unknown> => Array.isArray(u)

const varintBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5)

/** Encoded size of `repeated bytes` field 1 holding `items`, or none if an item is not bytes. */
const repeatedBytesSize = (items: ReadonlyArray<unknown>): Option.Option<number> => {
  let size = 0
  for (const item of items) {
    if (!(item instanceof Uint8Array)) return Option.none()
    size += 1 + varintBytes(item.length) + item.length
  }
  return Option.some(size)
}

/** Logs a handler's broken limit and gives the INTERNAL status the caller gets instead. */
const bug = (context: InboundContext, detail: string) =>
  Effect.logError(`P2P server: handler broke a response limit, not sent: ${detail}`).pipe(
    Effect.annotateLogs({ path: context.path, peer: shortPeerId(context.peerId) }),
    Effect.as(new HandlerStatus({ code: "INTERNAL", detail: `${context.path}: internal error` }))
  )

/** Applies the response limit of `context.path` to a unary answer (other paths pass unchanged). */
export const limitUnaryResponse = <R>(response: R, context: InboundContext): Effect.Effect<R, HandlerStatus> => {
  if (typeof response !== "object" || response === null) return Effect.succeed(response)
  switch (context.path) {
    case P2pMethods.GetKnownPeers.path: {
      if (!("knownPeers" in response) || !isArray(response.knownPeers)) {
        return Effect.flatMap(bug(context, "answer has no knownPeers list"), Effect.fail)
      }
      const count = response.knownPeers.length
      if (count <= MAX_KNOWN_PEERS_PER_RESPONSE) return Effect.succeed(response)
      return Effect.as(
        Effect.logError(`P2P server: GetKnownPeers answer of ${count} peers cut to ${MAX_KNOWN_PEERS_PER_RESPONSE}`).pipe(
          Effect.annotateLogs({ path: context.path, peer: shortPeerId(context.peerId) })
        ),
        { ...response, knownPeers: response.knownPeers.slice(0, MAX_KNOWN_PEERS_PER_RESPONSE) }
      )
    }
    case P2pMethods.FetchCommits.path: {
      if (!("commits" in response) || !isArray(response.commits)) {
        return Effect.flatMap(bug(context, "answer has no commits list"), Effect.fail)
      }
      return response.commits.length <= MAX_COMMITS_PER_RESPONSE
        ? Effect.succeed(response)
        : Effect.flatMap(bug(context, `${response.commits.length} commits, at most ${MAX_COMMITS_PER_RESPONSE}`), Effect.fail)
    }
    default:
      return Effect.succeed(response)
  }
}

/** What a FetchBlocks stream may still send: the blocks asked for and the answer's block bytes, minus those sent. */
export interface StreamBudget {
  readonly blocksLeft: number
  readonly bytesLeft: number
}

/** Checks one FetchBlocks message against the size limit and the budget; gives the budget left. */
export const limitStreamMessage = <R>(budget: StreamBudget, message: R, context: InboundContext): Effect.Effect<readonly [StreamBudget, R], HandlerStatus> => {
  if (typeof message !== "object" || message === null || !("blocks" in message) || !isArray(message.blocks)) {
    return Effect.flatMap(bug(context, "message has no blocks list"), Effect.fail)
  }
  const blocks = message.blocks
  const size = repeatedBytesSize(blocks)
  if (Option.isNone(size)) return Effect.flatMap(bug(context, "a block is not bytes"), Effect.fail)
  if (size.value > MAX_STREAM_MESSAGE_BYTES) {
    return Effect.flatMap(bug(context, `message of ${size.value} bytes, at most ${MAX_STREAM_MESSAGE_BYTES}`), Effect.fail)
  }
  if (blocks.length > budget.blocksLeft) {
    return Effect.flatMap(bug(context, `more blocks than were asked for (${blocks.length} with ${budget.blocksLeft} left)`), Effect.fail)
  }
  let blockBytes = 0
  for (const block of blocks) blockBytes += (block as Uint8Array).length
  if (blockBytes > budget.bytesLeft) {
    return Effect.flatMap(bug(context, `answer past ${MAX_FETCH_BLOCKS_ANSWER_BYTES} bytes of blocks`), Effect.fail)
  }
  return Effect.succeed([{ blocksLeft: budget.blocksLeft - blocks.length, bytesLeft: budget.bytesLeft - blockBytes }, message] as const)
}

/** The budget of a validated FetchBlocks request: one block per ref asked for, 32 MiB of blocks. */
export const streamBudgetOf = (request: unknown): StreamBudget => ({
  blocksLeft: typeof request === "object" && request !== null && "blockRefs" in request && isArray(request.blockRefs) ? request.blockRefs.length : 0,
  bytesLeft: MAX_FETCH_BLOCKS_ANSWER_BYTES
})
