import { performance } from 'node:perf_hooks';
import { requestState } from './request-state.js';

/**
 * How many times its budget a request may spend, in wall time, with a Redis command in
 * flight: the bound on an overloaded process, where Redis time and the app's own lag cannot
 * be told apart exactly (see {@link Deadline}).
 */
export const MAX_WAIT_FACTOR = 3;

/** Time the event loop spent idle in its event provider (epoll, kqueue), in ms since start. */
const idleTime = (): number => performance.nodeTiming.idleTime;

/**
 * A budget of Redis time for everything one request asks of Redis, in milliseconds. The
 * guard and the interceptor share the request's deadline, so a slow Redis costs a request
 * at most one budget in total, never one per command.
 *
 * Only Redis is charged, never the app's own queue: the clock runs while one of the
 * request's commands is on the wire (from the moment its bytes are written to the socket,
 * not when it was queued behind other requests or corked until the end of the event-loop
 * turn), and of that time only what the process spent idle waiting for I/O. Time the
 * event loop was busy is app lag: the reply may have been sitting in the socket all along.
 * A command whose reply is still missing after the remaining budget, measured from its
 * write and once the socket was read, spends the whole deadline.
 *
 * So a request never hangs: the wall time it spends with a command in flight is also
 * capped, at three times the budget, whatever the load.
 */
export class Deadline {
  /** Redis time charged so far (idle time while a command was in flight), in ms. */
  private spentMs = 0;
  /** Wall time with at least one command in flight so far, in ms. */
  private waitedMs = 0;
  private inFlight = 0;
  /** When the current in-flight stretch started: wall time and idle time, in ms. */
  private since = 0;
  private idleSince = 0;
  private exhausted = false;

  private constructor(
    /** The budget of Redis time, in ms. */
    readonly budgetMs: number,
  ) {}

  /** A deadline of `budgetMs` of Redis time; it starts running with the first command written. */
  static after(budgetMs: number): Deadline {
    return new Deadline(budgetMs);
  }

  /** Milliseconds left (0 when spent): the smaller of the Redis time left and the wall-time cap left. */
  remainingMs(): number {
    if (this.exhausted) return 0;
    let spent = this.spentMs;
    let waited = this.waitedMs;
    if (this.inFlight > 0) {
      spent += idleTime() - this.idleSince;
      waited += performance.now() - this.since;
    }
    return Math.max(0, Math.min(this.budgetMs - spent, MAX_WAIT_FACTOR * this.budgetMs - waited));
  }

  /**
   * @internal Called by `RedisConnection` when one of the request's commands was written;
   * the returned function when it settled, `timedOut` when Redis left it unanswered past
   * its budget (which spends the deadline).
   */
  onTheWire(): (timedOut: boolean) => void {
    if (this.inFlight++ === 0) {
      this.since = performance.now();
      this.idleSince = idleTime();
    }
    let settled = false;
    return (timedOut) => {
      if (settled) return;
      settled = true;
      if (timedOut) this.exhausted = true;
      if (--this.inFlight > 0) return;
      this.spentMs += idleTime() - this.idleSince;
      this.waitedMs += performance.now() - this.since;
    };
  }
}

/**
 * The deadline of one request, created on first use with `budgetMs`: every later
 * caller for the same request object gets the same deadline (kept in the request's
 * state, see `requestState`).
 */
export function requestDeadline(request: object, budgetMs: number): Deadline {
  const state = requestState(request);
  return (state.deadline ??= Deadline.after(budgetMs));
}

/** @internal What a Redis call needs of a deadline: one request's, or several requests' that share one command. */
export interface RedisBudget {
  remainingMs(): number;
  onTheWire(): (timedOut: boolean) => void;
}

/**
 * @internal The budget of one command that decides for several requests (the rate
 * limiter's batch): the least time any of them has left, and every one of them charged
 * for the time the command is on the wire, as if it were its own.
 */
export function sharedDeadline(deadlines: readonly Deadline[]): RedisBudget {
  return {
    remainingMs: () => {
      let least = Infinity;
      for (const deadline of deadlines) least = Math.min(least, deadline.remainingMs());
      return least;
    },
    onTheWire: () => {
      const settles = deadlines.map((deadline) => deadline.onTheWire());
      return (timedOut) => {
        for (const settle of settles) settle(timedOut);
      };
    },
  };
}
