/**
 * The transactions of a verified block, decoded and hashed once. The verifier records what it decoded
 * while checking the block, so the executor takes the transactions as they are; a block read back from
 * the store (verified before it was written) is decoded here on first use and remembered.
 */
import { Either } from "effect"
import type { VerifiedBlock } from "./block.js"
import { decodeCertifiedTransaction, transactionDigestOfBytes, type VerifiedTransaction } from "./transaction.js"

const known = new WeakMap<VerifiedBlock, ReadonlyArray<VerifiedTransaction>>()

/** Records the verified transactions of a block (the verifier, right after checking them). */
export const rememberVerifiedTransactions = (block: VerifiedBlock, transactions: ReadonlyArray<VerifiedTransaction>): void => {
  known.set(block, transactions)
}

/**
 * The block's transactions in order, and how many did not decode. Stored blocks were verified before
 * they were written, so `undecodable` is 0 unless the store was corrupted (the executor reports it).
 */
export const verifiedTransactionsOf = (block: VerifiedBlock): { readonly transactions: ReadonlyArray<VerifiedTransaction>; readonly undecodable: number } => {
  const remembered = known.get(block)
  if (remembered !== undefined) return { transactions: remembered, undecodable: 0 }
  const transactions: Array<VerifiedTransaction> = []
  for (const bytes of block.signed.block.transactions) {
    const decoded = decodeCertifiedTransaction(bytes)
    if (Either.isRight(decoded)) transactions.push({ digest: transactionDigestOfBytes(bytes, decoded.right), data: decoded.right.signed.data })
  }
  const undecodable = block.signed.block.transactions.length - transactions.length
  if (undecodable === 0) known.set(block, transactions)
  return { transactions, undecodable }
}
