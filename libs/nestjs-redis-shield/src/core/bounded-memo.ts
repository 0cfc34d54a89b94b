import { BoundedMap } from './lru.js';

/**
 * The longest input a memo keeps, in characters. Hot inputs are short (ids, key
 * materials of ordinary URLs); a client sending thousands of distinct URLs near the
 * header size limit must not make a memo hold thousands of 16 KB strings.
 */
export const MEMO_MAX_INPUT_LENGTH = 1024;

/**
 * A pure string computation remembered for the most recent `max` distinct inputs, the
 * oldest forgotten first: for hot values over a working set (client HMACs, cache
 * digests) where recomputing costs more than a lookup. Inputs longer than
 * {@link MEMO_MAX_INPUT_LENGTH} are computed every time, never kept.
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
    if (input.length > MEMO_MAX_INPUT_LENGTH) return this.compute(input);
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
