/**
 * A time budget for everything one request asks of Redis, in milliseconds. The guard
 * and the interceptor share the request's deadline, so a slow Redis costs a request at
 * most one budget in total, never one per command.
 */
export class Deadline {
  private constructor(private readonly expiresAt: number) {}

  /** A deadline `budgetMs` from now. */
  static after(budgetMs: number): Deadline {
    return new Deadline(performance.now() + budgetMs);
  }

  /** Milliseconds left (0 when spent). */
  remainingMs(): number {
    return Math.max(0, this.expiresAt - performance.now());
  }
}

const deadlines = new WeakMap<object, Deadline>();

/**
 * The deadline of one request, created on first use with `budgetMs`: every later
 * caller for the same request object gets the same deadline.
 */
export function requestDeadline(request: object, budgetMs: number): Deadline {
  let deadline = deadlines.get(request);
  if (!deadline) {
    deadline = Deadline.after(budgetMs);
    deadlines.set(request, deadline);
  }
  return deadline;
}
