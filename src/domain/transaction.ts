/**
 * Transactions: what a sender signs (Ed25519), and the certificate a quorum of the epoch's committee
 * adds: a signers bitmap and one BLS12-381 aggregate signature (Soma; DESIGN.md §3).
 */
import { BcsType } from "@mysten/bcs"
import { Schema } from "effect"
import { u64LE } from "./bytes.js"
import { certificateBcsFields, certificateFields } from "./certificate.js"
import { boundedBytes, boundedString, decodeBcs, encodeBcs, fixedBytes, readVariant, struct, u64 } from "./codec.js"
import { blake2b256 } from "./hash.js"
import { intentMessage, IntentScope } from "./intent.js"
import { MAX_SHARED_KEY_BYTES, MAX_SHARED_VALUE_BYTES } from "./limits.js"
import { BoundedBytes, BoundedString, PublicKey, Signature, U64 } from "./primitives.js"

/** Moves `amount` from the sender's account to `recipient`'s. */
export const Transfer = Schema.TaggedStruct("Transfer", { recipient: PublicKey, amount: U64 })
/** Writes `value` under `key` in the shared key-value object (ordered by commit, versioned on execution). */
export const WriteShared = Schema.TaggedStruct("WriteShared", {
  key: BoundedString(MAX_SHARED_KEY_BYTES, "key"),
  value: BoundedBytes(MAX_SHARED_VALUE_BYTES, "value")
})
/** The state-machine operation a transaction performs. */
export const TransactionKind = Schema.Union(Transfer, WriteShared)
export type TransactionKind = typeof TransactionKind.Type

/** What the sender signs. `nonce` makes otherwise equal transactions distinct. */
export const TransactionData = Schema.Struct({ sender: PublicKey, nonce: U64, kind: TransactionKind })
export type TransactionData = typeof TransactionData.Type

/** A transaction with its sender's signature. */
export const SignedTransaction = Schema.Struct({ data: TransactionData, senderSignature: Signature })
export type SignedTransaction = typeof SignedTransaction.Type

/**
 * A signed transaction certified by authorities of `epoch`: `aggregateSignature` aggregates the
 * signatures of the members set in `signers` (valid only if they reach quorum stake).
 */
export const CertifiedTransaction = Schema.Struct({
  signed: SignedTransaction,
  epoch: U64,
  ...certificateFields
})
export type CertifiedTransaction = typeof CertifiedTransaction.Type

const TransferBcs = struct("Transfer", { recipient: fixedBytes(32, "recipient"), amount: u64 })
const WriteSharedBcs = struct("WriteShared", {
  key: boundedString(MAX_SHARED_KEY_BYTES, "key"),
  value: boundedBytes(MAX_SHARED_VALUE_BYTES, "value")
})

/** BCS enum `TransactionKind { Transfer, WriteShared }`. */
export const TransactionKindBcs = new BcsType<TransactionKind, TransactionKind>({
  name: "TransactionKind",
  read: (reader) => {
    const variant = readVariant(reader, 2, "TransactionKind")
    return variant === 0
      ? { _tag: "Transfer" as const, ...TransferBcs.read(reader) }
      : { _tag: "WriteShared" as const, ...WriteSharedBcs.read(reader) }
  },
  write: (kind, writer) => {
    if (kind._tag === "Transfer") {
      writer.writeULEB(0)
      TransferBcs.write(kind, writer)
    } else {
      writer.writeULEB(1)
      WriteSharedBcs.write(kind, writer)
    }
  }
})

/** BCS layout of `TransactionData`. */
export const TransactionDataBcs = struct("TransactionData", {
  sender: fixedBytes(32, "sender"),
  nonce: u64,
  kind: TransactionKindBcs
})
/** BCS layout of `SignedTransaction`. */
export const SignedTransactionBcs = struct("SignedTransaction", {
  data: TransactionDataBcs,
  senderSignature: fixedBytes(64, "senderSignature")
})
/** BCS layout of `CertifiedTransaction`. */
export const CertifiedTransactionBcs = struct("CertifiedTransaction", {
  signed: SignedTransactionBcs,
  epoch: u64,
  ...certificateBcsFields
})

/** Digest of a transaction: Blake2b-256 of its `TransactionData`. */
export const transactionDigest = (data: TransactionData): Uint8Array => blake2b256(encodeBcs(TransactionDataBcs, data))

/**
 * The `TransactionData` bytes inside the canonical bytes of a certified transaction, without
 * re-encoding: BCS is a concatenation, so they are the prefix before the sender signature (64), the
 * epoch (8), the bitmap (its ULEB length, < 128, and bytes) and the aggregate signature (96).
 */
export const transactionDataBytes = (bytes: Uint8Array, tx: CertifiedTransaction): Uint8Array =>
  bytes.subarray(0, bytes.length - 64 - 8 - 1 - tx.signers.length - 96)

/** Digest of a decoded certified transaction from the bytes it was decoded from (hashing, no encoding). */
export const transactionDigestOfBytes = (bytes: Uint8Array, tx: CertifiedTransaction): Uint8Array =>
  blake2b256(transactionDataBytes(bytes, tx))

/**
 * A certified transaction whose sender signature and certificate were verified, with its digest:
 * what the executor consumes, so nothing is decoded or hashed again after verification.
 */
export interface VerifiedTransaction {
  readonly digest: Uint8Array
  readonly data: TransactionData
}

/** Bytes the sender signs. */
export const senderSigningMessage = (txDigest: Uint8Array): Uint8Array => intentMessage(IntentScope.TransactionData, txDigest)

/** Bytes an authority signs to certify a transaction in an epoch. */
export const certificateSigningMessage = (txDigest: Uint8Array, epoch: number): Uint8Array =>
  intentMessage(IntentScope.AuthorityCertificate, txDigest, u64LE(epoch))

/** Canonical bytes of a certified transaction (what a block carries). */
export const encodeCertifiedTransaction = (tx: CertifiedTransaction): Uint8Array => encodeBcs(CertifiedTransactionBcs, tx)

/** Decodes a block's transaction bytes; never throws. */
export const decodeCertifiedTransaction = (bytes: Uint8Array) => decodeBcs(CertifiedTransactionBcs, bytes)
