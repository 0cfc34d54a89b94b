/**
 * @internal Redis bookkeeping that failed while Redis could not be reached and still
 * matters once it answers again: giving back a cache lease or a concurrency slot that a
 * finished request holds there, which would otherwise hold other requests until it lapses.
 * Each undo is kept by key (a later one replaces it) until it lapses, at most `max` of them
 * (the oldest dropped first), and run by {@link runAll} when the connection is ready again;
 * one that fails then is kept for the next time.
 */
export class PendingUndos {
  private readonly pending = new Map<string, { action: () => Promise<unknown>; lapsesAt: number }>();

  constructor(private readonly max: number) {}

  /** How many are kept. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Keeps `action` under `key` for `lapsesInMs` (after which what it undoes is gone from
   * Redis by itself: a lease's or slot's lifetime).
   */
  keep(key: string, lapsesInMs: number, action: () => Promise<unknown>): void {
    this.keepUntil(key, performance.now() + lapsesInMs, action);
  }

  /** Runs every undo that has not lapsed, forgetting them; one that fails is kept again. */
  runAll(): void {
    const now = performance.now();
    const due = [...this.pending];
    this.pending.clear();
    for (const [key, { action, lapsesAt }] of due) {
      if (lapsesAt > now) action().catch(() => this.keepUntil(key, lapsesAt, action));
    }
  }

  /** Forgets them all. */
  clear(): void {
    this.pending.clear();
  }

  private keepUntil(key: string, lapsesAt: number, action: () => Promise<unknown>): void {
    if (lapsesAt <= performance.now()) return;
    this.pending.delete(key); // re-inserted last: the first is always the oldest
    if (this.pending.size >= this.max) this.pending.delete(this.pending.keys().next().value!);
    this.pending.set(key, { action, lapsesAt });
  }
}
