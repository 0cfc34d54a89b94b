import { TIMED_OUT, withTimeout } from './timeout.js';

/**
 * One computation per key at a time on this instance: the first caller (the leader) runs
 * it, and callers that arrive while it is in flight (followers) take its result instead
 * of running it again. N concurrent misses of one key cost one run, not N.
 *
 * Two ways to lead: {@link run} for a computation whose promise is the result (the key is
 * free again once it settled), and {@link claim} for a leader that hands its result to
 * the followers by hand and may keep the key a while longer (e.g. until the result is
 * stored where later callers find it). Followers either share the promise ({@link run})
 * or wait a bounded time ({@link follow}).
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  /** How many keys have a leader. */
  get size(): number {
    return this.flights.size;
  }

  /** The leader's result under `key`, or undefined when no leader holds it. */
  get(key: string): Promise<T> | undefined {
    return this.flights.get(key);
  }

  /**
   * Runs `fn` as the leader of `key`, or joins the leader already running: every caller
   * gets the same promise, fulfilled or rejected as `fn` settles. `fn` is called at once
   * (a synchronous throw rejects the promise); the key is free once the promise settled,
   * before any caller sees the settlement.
   */
  run(key: string, fn: () => T | Promise<T>): Promise<T> {
    const running = this.flights.get(key);
    if (running) return running;
    const job = (async () => fn())().finally(() => this.release(key, job));
    this.flights.set(key, job);
    return job;
  }

  /**
   * Claims `key` for a leader that settles it by hand ({@link Flight.settle}). Returns
   * undefined when another leader holds the key: the caller then runs on its own and
   * nobody waits for it.
   */
  claim(key: string): Flight<T> | undefined {
    if (this.flights.has(key)) return undefined;
    let resolve!: (value: T) => void;
    const result = new Promise<T>((settle) => (resolve = settle));
    this.flights.set(key, result);
    let settled = false;
    return {
      settle: (value, releaseAfter) => {
        if (settled) return;
        settled = true;
        resolve(value);
        const release = () => this.release(key, result);
        if (releaseAfter) void releaseAfter.then(release, release);
        else release();
      },
    };
  }

  /**
   * Waits for the leader of `key` at most `timeoutMs`: the leader's result (its rejection
   * for a {@link run} that failed), or undefined when it took longer. Returns undefined,
   * not a promise, when no leader holds the key, so the caller can lead in the same tick,
   * before another caller of the same key could claim it.
   */
  follow(key: string, timeoutMs: number): Promise<T | undefined> | undefined {
    const leader = this.flights.get(key);
    return leader && within(leader, timeoutMs);
  }

  /** Frees `key` if `flight` still holds it. */
  private release(key: string, flight: Promise<T>): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
  }
}

/** A claim on a key of a {@link SingleFlight}. */
export interface Flight<T> {
  /**
   * Hands `value` to the followers and frees the key: at once, or once `releaseAfter`
   * settled (followers arriving until then get `value` at once). Only the first call
   * counts; later ones are ignored.
   */
  settle(value: T, releaseAfter?: Promise<unknown>): void;
}

/** `promise`'s outcome, or undefined when it has not settled within `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  const outcome = await withTimeout(promise, timeoutMs);
  return outcome === TIMED_OUT ? undefined : outcome;
}
