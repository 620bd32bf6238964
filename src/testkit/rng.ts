/**
 * A small seeded PRNG (SplitMix32) for the chain generator: the same seed gives the same chain on every
 * machine, without threading Effect's `Random` through a synchronous generator.
 */
export class SeededRandom {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0
    let z = this.state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }

  /** An integer in [0, bound). */
  nextInt(bound: number): number {
    return Math.floor((this.nextU32() / 0x1_0000_0000) * bound)
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.nextU32() / 0x1_0000_0000 < p
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: ReadonlyArray<T>): Array<T> {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1)
      const tmp = out[i] as T
      out[i] = out[j] as T
      out[j] = tmp
    }
    return out
  }
}
