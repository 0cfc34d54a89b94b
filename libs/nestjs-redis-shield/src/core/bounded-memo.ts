/**
 * A pure string computation remembered for the most recent `max` distinct inputs, the
 * oldest forgotten first: for hot values over a working set (client HMACs, cache
 * digests) where recomputing costs more than a lookup.
 */
export class BoundedMemo {
  private readonly known = new Map<string, string>();

  constructor(
    private readonly compute: (input: string) => string,
    private readonly max: number,
  ) {}

  /** `compute(input)`, from memory when asked recently. */
  get(input: string): string {
    let value = this.known.get(input);
    if (value === undefined) {
      value = this.compute(input);
      if (this.known.size >= this.max) this.known.delete(this.known.keys().next().value!);
      this.known.set(input, value);
    }
    return value;
  }

  /** How many results are remembered (at most `max`). */
  get size(): number {
    return this.known.size;
  }
}
