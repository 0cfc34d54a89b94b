/** What {@link withTimeout} resolves with when the deadline passed before the work settled. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/** Options of {@link withTimeout}. */
export interface TimeoutOptions {
  /** Whether the timer may let the process exit while the work is pending (`timer.unref()`). Default false. */
  unref?: boolean;
}

/**
 * Races `work` against a deadline of `ms` milliseconds: resolves with `work`'s value when
 * it settles first (and rejects with its error), or with {@link TIMED_OUT} once `ms` passed.
 * The timer is cleared as soon as the race is decided, either way, so no timer outlives
 * the race. `work` itself is not cancelled: a caller that timed out may still observe it.
 *
 * @example
 * if ((await withTimeout(drains, 2000)) === TIMED_OUT) logger.warn('drains cut after 2 s');
 */
export function withTimeout<T>(
  work: PromiseLike<T>,
  ms: number,
  options: TimeoutOptions = {},
): Promise<T | typeof TIMED_OUT> {
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const timer = setTimeout(() => resolve(TIMED_OUT), ms);
    if (options.unref) timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}
