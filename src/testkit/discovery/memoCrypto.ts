/**
 * A `Crypto` whose Ed25519 verdicts are remembered, for simulations of many nodes on one thread.
 * In a simulated network of N nodes every signed NodeInfo is checked by up to N of them: the same
 * (key, message, signature) verified again and again, which at 1,000 nodes is most of a run's CPU.
 * A real node checks each item once; the simulation still runs every check through real Ed25519 the
 * first time and answers the same verdict for byte-identical items after. Items are compared in full
 * (the map is only keyed by the signature), so a mutated key, message or signature is verified afresh.
 * Memory: the entries are dropped oldest-first beyond `capacity`.
 */
import { Effect } from "effect"
import { bytesEqual } from "../../domain/bytes.js"
import type { CryptoService, VerifyItem } from "../../services/Crypto.js"

/** Default number of remembered verdicts (≈ 1,000 nodes × a few NodeInfo versions each). */
const DEFAULT_CAPACITY = 200_000

interface Remembered {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly valid: boolean
}

const keyOf = (signature: Uint8Array): string => Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64")

/** `crypto` with `verify` and `verifyMany` remembering their verdicts (everything else unchanged). */
export const memoizeVerify = (crypto: CryptoService, capacity = DEFAULT_CAPACITY): CryptoService => {
  const verdicts = new Map<string, Remembered>()
  const lookup = (item: VerifyItem): boolean | undefined => {
    const held = verdicts.get(keyOf(item.signature))
    return held !== undefined && bytesEqual(held.publicKey, item.publicKey) && bytesEqual(held.message, item.message) ? held.valid : undefined
  }
  const remember = (item: VerifyItem, valid: boolean) => {
    // Copies: the item's bytes may be views into a message buffer that is reused or large.
    verdicts.set(keyOf(item.signature), { publicKey: Uint8Array.from(item.publicKey), message: Uint8Array.from(item.message), valid })
    if (verdicts.size > capacity) verdicts.delete(verdicts.keys().next().value as string)
  }
  const verifyMany = (items: ReadonlyArray<VerifyItem>): Effect.Effect<ReadonlyArray<boolean>> =>
    Effect.gen(function* () {
      const answers = items.map(lookup)
      const unknown = items.filter((_, i) => answers[i] === undefined)
      if (unknown.length === 0) return answers as ReadonlyArray<boolean>
      const fresh = yield* crypto.verifyMany(unknown)
      let next = 0
      return items.map((item, i) => {
        const known = answers[i]
        if (known !== undefined) return known
        const valid = fresh[next++] as boolean
        remember(item, valid)
        return valid
      })
    })
  return {
    ...crypto,
    verify: (item) => Effect.map(verifyMany([item]), (answers) => answers[0] as boolean),
    verifyMany
  }
}
