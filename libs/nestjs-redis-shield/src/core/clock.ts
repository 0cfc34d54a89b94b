/**
 * Where the library reads time. `redis`: Lua scripts call `TIME`, so every instance
 * agrees on one clock without an extra round trip; `now()` is only the local estimate
 * the in-memory fallback uses. `app`: `now()` is passed into scripts instead (managed
 * Redis that refuses `TIME` in scripts, tests that pin time).
 */
export interface Clock {
  /** `redis`: scripts read Redis `TIME`; `app`: scripts receive {@link Clock.now | now()}. */
  readonly source: 'redis' | 'app';
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The default clock: Redis `TIME` inside scripts, `Date.now()` locally. */
export const redisClock: Clock = { source: 'redis', now: () => Date.now() };

/** A clock from the application, e.g. `appClock(() => Date.now())`. */
export function appClock(now: () => number): Clock {
  return { source: 'app', now };
}

/**
 * A clock that moves only when told: for tests that pin time (every instance given
 * the same `ManualClock` sees the same instant).
 *
 * @example
 * const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
 * clock.advance(60_000);
 */
export class ManualClock implements Clock {
  readonly source = 'app';

  /** Starts at `ms` (ms since the epoch); defaults to `Date.now()`. */
  constructor(private ms: number = Date.now()) {}

  now(): number {
    return this.ms;
  }

  /** Sets the time, in ms since the epoch. */
  set(ms: number): void {
    this.ms = ms;
  }

  /** Moves the time forward by `ms`. */
  advance(ms: number): void {
    this.ms += ms;
  }
}
