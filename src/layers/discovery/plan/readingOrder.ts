/**
 * The order in which a GetKnownPeers answer is read. The introduction budget admits new peers in reading
 * order (`admitIntroductions`), so reading an answer as sent would let a liar choose which of its entries
 * get admitted, and so tested: its real fellow attackers first, for feelers to reach and make it credible,
 * its minted identities after, to be believed once it is. Read in a random order, what is admitted is a
 * fair sample of what it sent, and feelers find a liar's fakes in proportion to how many it sends.
 */
import { sample, seededRng } from "../../peers/prng.js"

/** At most `max` of `entries` (the rest is never read), in a random order drawn from `seed`. */
export const answerReadingOrder = <A>(entries: ReadonlyArray<A>, max: number, seed: number): Array<A> => {
  const read = entries.slice(0, Math.max(0, max))
  return sample(read, read.length, seededRng(seed))
}
