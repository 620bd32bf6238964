/**
 * Helpers of the discovery simulations: stepping time tick by tick until a condition holds, and the
 * invariant that every NodeInfo an honest node stores verifies.
 */
import { Effect } from "effect"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import { nativeVerify } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { nodeInfoVerifyItem } from "../../../src/layers/discovery/plan/nodeInfoRules.js"
import type { SimDiscoveryNode } from "../../../src/testkit/discovery/simWorld.js"

/**
 * Moves time `stepMs` at a time (at most `maxSteps` steps) until `done` holds; answers the number of
 * steps taken, or `undefined` if it never held.
 */
export const stepsUntil = <E, R>(
  advance: (ms: number) => Effect.Effect<void>,
  stepMs: number,
  maxSteps: number,
  done: Effect.Effect<boolean, E, R>
): Effect.Effect<number | undefined, E, R> =>
  Effect.gen(function* () {
    for (let step = 1; step <= maxSteps; step++) {
      yield* advance(stepMs)
      if (yield* done) return step
    }
    return undefined
  })

/** Verdicts by the exact bytes of a stored NodeInfo: the check runs every tick over every table. */
const verdicts = new Map<string, boolean>()

const verifiesOnce = (signed: SignedNodeInfo): boolean => {
  const key = Buffer.from(encodeSignedNodeInfo(signed)).toString("base64")
  let verdict = verdicts.get(key)
  if (verdict === undefined) {
    verdict = nativeVerify(nodeInfoVerifyItem(signed))
    if (verdicts.size > 100_000) verdicts.clear()
    verdicts.set(key, verdict)
  }
  return verdict
}

/** Entries of a node's table whose signature does not verify (must always be empty). */
export const unverifiableEntries = (node: SimDiscoveryNode): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(node.manager.snapshot, (snapshot) => snapshot.known.flatMap((v) => (v.info !== undefined && !verifiesOnce(v.info) ? [v.peerId] : [])))
