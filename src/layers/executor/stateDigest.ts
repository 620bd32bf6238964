/**
 * The canonical state digest: Blake2b-256 over
 *   u64 n ‖ (account[32] ‖ u64 balance)ⁿ  — non-zero balances, by account bytes
 *   u64 m ‖ (u64 |key| ‖ key ‖ u64 version ‖ u64 |value| ‖ value)ᵐ — shared entries, by key bytes
 * (u64 little-endian, strings UTF-8). Two executors that executed the same commits have the same
 * digest whatever their history of restarts and batch sizes.
 */
import { Effect } from "effect"
import { fromHex, u64LE } from "../../domain/bytes.js"
import { blake2b256Concat } from "../../domain/hash.js"
import type { ExecutorReadError } from "../../services/CommitExecutor.js"
import { MAX_SCAN_LIMIT, type StoreService } from "../../services/Store.js"
import { decodeNumber, decodeShared, PREFIX } from "./records.js"

/** Every executor entry under `prefix`, in key order, read page by page. */
export const scanAll = (store: StoreService, prefix: string) =>
  Effect.gen(function* () {
    const out: Array<readonly [string, Uint8Array]> = []
    let after: string | undefined
    for (;;) {
      const page = yield* store.scanExecutorState(prefix, MAX_SCAN_LIMIT, ...(after === undefined ? [] : [after]))
      out.push(...page)
      if (page.length < MAX_SCAN_LIMIT) return out
      after = (page[page.length - 1] as readonly [string, Uint8Array])[0]
    }
  })

const utf8 = new TextEncoder()

/** The digest of the stored state (callers make sure no write runs meanwhile). */
export const computeStateDigest = (store: StoreService): Effect.Effect<Uint8Array, ExecutorReadError> =>
  Effect.gen(function* () {
    const balances = yield* scanAll(store, PREFIX.balance)
    const shared = yield* scanAll(store, PREFIX.shared)
    const parts: Array<Uint8Array> = [u64LE(balances.length)]
    for (const [key, value] of balances) {
      parts.push(fromHex(key.slice(PREFIX.balance.length)), u64LE(yield* decodeNumber(key, value)))
    }
    parts.push(u64LE(shared.length))
    for (const [key, value] of shared) {
      const entry = yield* decodeShared(key, value)
      const name = utf8.encode(key.slice(PREFIX.shared.length))
      parts.push(u64LE(name.length), name, u64LE(entry.version), u64LE(entry.value.length), entry.value)
    }
    return blake2b256Concat(...parts)
  })
