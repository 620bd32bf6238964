import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import type { TransactionData } from "../../../src/domain/transaction.js"
import { balanceKey, decodeEffects, decodeNumber, decodeShared, doneKey, effectsKey, encodeNumber, META, sharedKey } from "../../../src/layers/executor/records.js"
import { executeBatch, keysToRead, type ExtractedCommit } from "../../../src/layers/executor/stateMachine.js"

const account = (n: number) => new Uint8Array(32).fill(n)
const digest = (n: number) => new Uint8Array(32).fill(100 + n)
const transfer = (from: number, to: number, amount: number, nonce = 0): TransactionData => ({
  sender: account(from),
  nonce,
  kind: { _tag: "Transfer", recipient: account(to), amount }
})
const write = (from: number, key: string, value: number): TransactionData => ({
  sender: account(from),
  nonce: value,
  kind: { _tag: "WriteShared", key, value: Uint8Array.of(value) }
})
const commit = (index: number, txs: ReadonlyArray<readonly [number, TransactionData]>, epoch = 0, closes = false): ExtractedCommit => ({
  index,
  digest: new Uint8Array(32).fill(index),
  epoch,
  transactions: txs.map(([d, data]) => ({ digest: digest(d), data })),
  undecodable: 0,
  nextCommitteeDigest: closes ? new Uint8Array(32).fill(9) : null
})

/**
 * Runs a batch over a map of stored values and applies its write to the map. Every stored value it
 * reads must be among `keysToRead` (the layer prefetches only those).
 */
const run = (stored: Map<string, Uint8Array>, commits: ReadonlyArray<ExtractedCommit>) => {
  const prefetched = new Set(keysToRead(commits))
  const plan = Either.getOrThrow(
    executeBatch((key) => {
      expect(prefetched.has(key), `${key} read but not prefetched`).toBe(true)
      return stored.get(key)
    }, commits)
  )
  for (const key of plan.deletes) stored.delete(key)
  for (const [key, value] of plan.puts) stored.set(key, value)
  return plan
}
const balanceOf = (stored: Map<string, Uint8Array>, n: number) => {
  const bytes = stored.get(balanceKey(account(n)))
  return bytes === undefined ? 0 : Either.getOrThrow(decodeNumber("", bytes))
}
const effectsOf = (stored: Map<string, Uint8Array>, d: number) => {
  const sequence = Either.getOrThrow(decodeNumber("", stored.get(doneKey(digest(d))) as Uint8Array))
  return Either.getOrThrow(decodeEffects("", stored.get(effectsKey(sequence)) as Uint8Array))
}

describe("executor state machine", () => {
  it("a transfer above the balance fails without changing state; a transfer to oneself changes nothing; an emptied account is deleted", () => {
    const stored = new Map([[balanceKey(account(1)), encodeNumber(50)]])
    const plan = run(stored, [commit(1, [[1, transfer(1, 2, 51)], [2, transfer(1, 1, 50)], [3, transfer(1, 2, 50)]])])
    expect([effectsOf(stored, 1).status, effectsOf(stored, 2).status, effectsOf(stored, 3).status]).toEqual(["InsufficientBalance", "Success", "Success"])
    expect([balanceOf(stored, 1), balanceOf(stored, 2)]).toEqual([0, 50])
    expect(stored.has(balanceKey(account(1)))).toBe(false)
    expect(plan.deletes).toEqual([balanceKey(account(1))])
    expect(plan.executed).toEqual([expect.objectContaining({ index: 1, executed: 3, failed: 1, duplicates: 0 })])
  })

  it("shared writes get consecutive versions per key in commit order, across commits and batches", () => {
    const stored = new Map<string, Uint8Array>()
    run(stored, [commit(1, [[1, write(1, "a", 1)], [2, write(1, "b", 2)]]), commit(2, [[3, write(2, "a", 3)]])])
    run(stored, [commit(3, [[4, write(3, "a", 4)]])])
    expect(Either.getOrThrow(decodeShared("", stored.get(sharedKey("a")) as Uint8Array))).toEqual({ version: 3, value: Uint8Array.of(4) })
    expect(Either.getOrThrow(decodeShared("", stored.get(sharedKey("b")) as Uint8Array)).version).toBe(1)
    expect(effectsOf(stored, 3).sharedVersions).toEqual([{ key: "a", version: 2 }])
    expect([1, 2, 3, 4].map((d) => effectsOf(stored, d).sequence)).toEqual([0, 1, 2, 3])
  })

  it("a digest already executed — in the same commit, an earlier commit of the batch, or an earlier batch — is skipped", () => {
    const stored = new Map([[balanceKey(account(1)), encodeNumber(1_000)]])
    run(stored, [commit(1, [[1, transfer(1, 2, 10)]])])
    const plan = run(stored, [commit(2, [[2, transfer(1, 2, 20)], [1, transfer(1, 2, 10)], [2, transfer(1, 2, 20)]]), commit(3, [[2, transfer(1, 2, 20)]])])
    expect(balanceOf(stored, 2)).toBe(30)
    expect(plan.executed.map((n) => [n.executed, n.duplicates])).toEqual([[1, 2], [0, 1]])
    expect(effectsOf(stored, 2).commitIndex).toBe(2)
    expect(Either.getOrThrow(decodeNumber("", stored.get(META.executed) as Uint8Array))).toBe(2)
  })

  it("the last commit of an epoch moves the executor to the next epoch; a commit of another epoch is refused", () => {
    const stored = new Map<string, Uint8Array>()
    const plan = run(stored, [commit(1, [], 0, true), commit(2, [], 1)])
    expect(plan.executed.map((n) => n.newEpoch)).toEqual([1, null])
    expect(Either.getOrThrow(decodeNumber("", stored.get(META.epoch) as Uint8Array))).toBe(1)
    const refused = executeBatch((key) => stored.get(key), [commit(3, [], 0)])
    expect(Either.isLeft(refused) && refused.left._tag).toBe("ExecutionOutOfOrder")
  })

  it("corrupt stored values are a typed error, not a crash", () => {
    const stored = new Map([[balanceKey(account(1)), Uint8Array.of(1, 2, 3)]])
    const result = executeBatch((key) => stored.get(key), [commit(1, [[1, transfer(1, 2, 1)]])])
    expect(Either.isLeft(result) && result.left._tag).toBe("ExecutorStateCorrupt")
    expect(Either.isLeft(result) && result.left.message).toContain(toHex(account(1)))
  })
})
