/**
 * The executor's genesis: validation, its digest (stored so that a restart with another genesis is
 * refused rather than silently mixed), and the first write. (The genesis of a generated chain is built in
 * `src/testkit/executorGenesis.ts`.)
 */
import { Either } from "effect"
import { compareBytes, concatBytes, toHex, u64LE } from "../../domain/bytes.js"
import { committeeDigest } from "../../domain/committee.js"
import { blake2b256 } from "../../domain/hash.js"
import { GenesisMismatch, type ExecutorGenesis } from "../../services/CommitExecutor.js"
import { balanceKey, encodeEpochRecord, encodeNumber, epochKey, META } from "./records.js"

/** The genesis balances sorted by account, checked: 32-byte accounts, each once, amounts and total safe integers. */
const checkedBalances = (genesis: ExecutorGenesis): Either.Either<ReadonlyArray<readonly [Uint8Array, number]>, GenesisMismatch> => {
  const sorted = [...genesis.balances].sort(([a], [b]) => compareBytes(a, b))
  let total = 0
  for (let i = 0; i < sorted.length; i++) {
    const [account, amount] = sorted[i] as readonly [Uint8Array, number]
    if (account.length !== 32) return Either.left(new GenesisMismatch({ detail: `account ${i} is ${account.length} bytes, not 32` }))
    if (i > 0 && compareBytes((sorted[i - 1] as readonly [Uint8Array, number])[0], account) === 0)
      return Either.left(new GenesisMismatch({ detail: `account ${toHex(account)} listed twice` }))
    if (!Number.isSafeInteger(amount) || amount < 0) return Either.left(new GenesisMismatch({ detail: `balance of ${toHex(account)} is not a u64: ${amount}` }))
    total += amount
    // Transfers conserve the total, so a safe total means no balance can ever overflow.
    if (!Number.isSafeInteger(total)) return Either.left(new GenesisMismatch({ detail: "total balance exceeds 2^53 − 1" }))
  }
  return Either.right(sorted)
}

/** Digest of a genesis: Blake2b-256 of committee digest ‖ u64 count ‖ (account ‖ u64 amount)* in account order. */
export const genesisDigest = (genesis: ExecutorGenesis): Either.Either<Uint8Array, GenesisMismatch> =>
  Either.map(checkedBalances(genesis), (balances) =>
    blake2b256(concatBytes(committeeDigest(genesis.committee), u64LE(balances.length), ...balances.flatMap(([a, amount]) => [a, u64LE(amount)])))
  )

/** The executor values a fresh store starts with: balances, the first epoch and its record, the genesis digest. */
export const genesisPuts = (genesis: ExecutorGenesis): Either.Either<ReadonlyArray<readonly [string, Uint8Array]>, GenesisMismatch> =>
  Either.flatMap(checkedBalances(genesis), (balances) =>
    Either.map(genesisDigest(genesis), (digest) => {
      const epoch = genesis.committee.epoch
      return [
        ...balances.filter(([, amount]) => amount > 0).map(([account, amount]) => [balanceKey(account), encodeNumber(amount)] as const),
        [epochKey(epoch), encodeEpochRecord({ epoch, committeeDigest: committeeDigest(genesis.committee), firstCommit: 1 })] as const,
        [META.epoch, encodeNumber(epoch)] as const,
        [META.executed, encodeNumber(0)] as const,
        [META.genesis, digest] as const
      ]
    })
  )
