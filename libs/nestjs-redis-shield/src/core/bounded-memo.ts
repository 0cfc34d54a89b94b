import { BoundedMap } from './lru.js';

/**
 * A pure string computation remembered for the most recent `max` distinct inputs, the
 * oldest forgotten first: for hot values over a working set (client HMACs, cache
 * digests) where recomputing costs more than a lookup.
 */
export class BoundedMemo {
  private readonly known: BoundedMap<string, string>;

  constructor(
    private readonly compute: (input: string) => string,
    max: number,
  ) {
    this.known = new BoundedMap(max);
  }

  /** `compute(input)`, from memory when asked recently. */
  get(input: string): string {
    let value = this.known.get(input);
    if (value === undefined) {
      value = this.compute(input);
      this.known.set(input, value);
    }
    return value;
  }

  /** How many results are remembered (at most `max`). */
  get size(): number {
    return this.known.size;
  }
}
