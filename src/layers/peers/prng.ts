/**
 * A tiny seeded PRNG for pure choices (the ledger's ranking and dial plan, discovery's sampling of whom
 * to ask and what to serve): the caller draws one seed from Effect's `Random` per decision and hands the
 * pure code a generator, so choices are reproducible from the seed without threading effects through
 * sorting code.
 */

/** Uniform numbers in [0, 1). */
export type Rng = () => number

/** A Mulberry32 generator from a 32-bit seed. */
export const seededRng = (seed: number): Rng => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
}

/** `count` items of `items` chosen uniformly without replacement (partial Fisher–Yates), in draw order. */
export const sample = <A>(items: ReadonlyArray<A>, count: number, rng: Rng): Array<A> => {
  const pool = [...items]
  const n = Math.min(Math.max(0, count), pool.length)
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng() * (pool.length - i))
    const tmp = pool[i] as A
    pool[i] = pool[j] as A
    pool[j] = tmp
  }
  return pool.slice(0, n)
}
