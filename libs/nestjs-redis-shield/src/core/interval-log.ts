/**
 * "Log at most once per interval": for warnings a persistent failure (Redis OOM, a flood
 * of bad bus messages) would otherwise repeat on every call. Each topic has its own
 * interval, so one noisy cause does not silence another.
 *
 * @example
 * private readonly errors = new IntervalLog(10_000);
 * // on each failure
 * if (this.errors.due()) this.logger.warn(`write failed: ${error.message}`);
 */
export class IntervalLog {
  /** When each topic last passed, in ms of `now()`. */
  private readonly last = new Map<string, number>();

  /**
   * @param intervalMs The least time between two lines of one topic, in ms.
   * @param now Where time is read, in ms (`Date.now()`, read at each call, unless a test pins it).
   */
  constructor(
    readonly intervalMs: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * Whether a line about `topic` may be written now: true the first time, then again once
   * `intervalMs` passed since the last time it was true (which starts a new interval).
   * Topics are few and fixed (a cause, a message type), never per client.
   */
  due(topic = ''): boolean {
    const now = this.now();
    const last = this.last.get(topic);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.last.set(topic, now);
    return true;
  }
}
