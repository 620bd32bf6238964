/**
 * The executor's layout in the store's executor area, and the BCS encodings of its values.
 *
 * | key                      | value                                              |
 * |--------------------------|----------------------------------------------------|
 * | `bal/<account hex>`      | u64 balance (absent = 0; a zero balance is deleted) |
 * | `kv/<key>`               | `SharedEntry {version u64, value bytes}`           |
 * | `fx/<sequence, 16 dig.>` | `Effects` of the sequence-th executed transaction  |
 * | `done/<tx digest hex>`   | u64 sequence: the executed-digest set, → its effects |
 * | `epoch/<epoch, 16 dig.>` | `EpochRecord`                                      |
 * | `meta/epoch`             | u64 epoch of the next commit                       |
 * | `meta/executed`          | u64 number of executed transactions (next sequence) |
 * | `meta/genesis`           | 32-byte digest of the genesis it started from      |
 *
 * Hex is lowercase, so `bal/` keys sort like the account bytes; numbers are zero-padded decimals so
 * that they sort numerically (16 digits hold any safe integer).
 */
import { Either } from "effect"
import { toHex } from "../../domain/bytes.js"
import { boundedBytes, boundedString, boundedVector, decodeBcs, encodeBcs, fixedBytes, struct, u32, u64, unitEnum, type DecodeError } from "../../domain/codec.js"
import { MAX_SHARED_KEY_BYTES, MAX_SHARED_VALUE_BYTES } from "../../domain/limits.js"
import { ExecutorStateCorrupt, type EpochRecord, type ExecutionStatus, type SharedValue, type TransactionEffects } from "../../services/CommitExecutor.js"

/** Key prefixes (each ends in `/`, so no prefix is a prefix of another's keys). */
export const PREFIX = {
  balance: "bal/",
  shared: "kv/",
  effects: "fx/",
  done: "done/",
  epoch: "epoch/"
} as const

/** Single keys. */
export const META = {
  epoch: "meta/epoch",
  executed: "meta/executed",
  genesis: "meta/genesis"
} as const

/** Digits of zero-padded numbers in keys: `Number.MAX_SAFE_INTEGER` has 16. */
const NUMBER_DIGITS = 16
const padded = (n: number): string => n.toString().padStart(NUMBER_DIGITS, "0")

export const balanceKey = (account: Uint8Array): string => PREFIX.balance + toHex(account)
export const sharedKey = (key: string): string => PREFIX.shared + key
export const effectsKey = (sequence: number): string => PREFIX.effects + padded(sequence)
export const doneKey = (txDigest: Uint8Array): string => PREFIX.done + toHex(txDigest)
export const epochKey = (epoch: number): string => PREFIX.epoch + padded(epoch)

/** A transaction assigns at most one shared version today (one operation per transaction); room for more. */
const MAX_SHARED_VERSIONS_PER_TX = 16

const SharedEntryBcs = struct("SharedEntry", { version: u64, value: boundedBytes(MAX_SHARED_VALUE_BYTES, "value") })
const SharedVersionBcs = struct("SharedVersion", { key: boundedString(MAX_SHARED_KEY_BYTES, "key"), version: u64 })
const STATUSES: ReadonlyArray<ExecutionStatus> = ["Success", "InsufficientBalance"]
const EffectsBcs = struct("Effects", {
  sequence: u64,
  digest: fixedBytes(32, "digest"),
  commitIndex: u32,
  status: unitEnum("ExecutionStatus", STATUSES),
  sharedVersions: boundedVector(SharedVersionBcs, MAX_SHARED_VERSIONS_PER_TX, 9, "sharedVersions")
})
const EpochRecordBcs = struct("EpochRecord", { epoch: u64, committeeDigest: fixedBytes(32, "committeeDigest"), firstCommit: u32 })

export const encodeNumber = (n: number): Uint8Array => encodeBcs(u64, n)
export const encodeShared = (entry: SharedValue): Uint8Array => encodeBcs(SharedEntryBcs, entry)
export const encodeEffects = (effects: TransactionEffects): Uint8Array => encodeBcs(EffectsBcs, effects)
export const encodeEpochRecord = (record: EpochRecord): Uint8Array => encodeBcs(EpochRecordBcs, record)

const corrupt = (key: string) => (error: DecodeError) => new ExecutorStateCorrupt({ key, detail: error.message })

/** Decoders name the key they read, so a corrupt store points at the bad entry. */
export const decodeNumber = (key: string, bytes: Uint8Array): Either.Either<number, ExecutorStateCorrupt> =>
  Either.mapLeft(decodeBcs(u64, bytes), corrupt(key))
export const decodeShared = (key: string, bytes: Uint8Array): Either.Either<SharedValue, ExecutorStateCorrupt> =>
  Either.mapLeft(decodeBcs(SharedEntryBcs, bytes), corrupt(key))
export const decodeEffects = (key: string, bytes: Uint8Array): Either.Either<TransactionEffects, ExecutorStateCorrupt> =>
  Either.mapLeft(decodeBcs(EffectsBcs, bytes), corrupt(key))
export const decodeEpochRecord = (key: string, bytes: Uint8Array): Either.Either<EpochRecord, ExecutorStateCorrupt> =>
  Either.mapLeft(decodeBcs(EpochRecordBcs, bytes), corrupt(key))
