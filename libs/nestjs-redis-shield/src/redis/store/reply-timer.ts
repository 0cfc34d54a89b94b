import { performance } from 'node:perf_hooks';

/**
 * Times one command's reply against its budget (ms), so that only Redis is ever found late.
 *
 * - The clock starts when the command's bytes were written ({@link written}), not when it
 *   was queued: a command corked until the end of a busy event-loop turn has not been
 *   waiting for Redis meanwhile.
 * - When the budget is up, the verdict waits for one more poll phase: timers run before
 *   the poll phase, so on a busy loop a reply may be sitting unread in the socket. A
 *   `setImmediate` lets that poll read it first.
 *
 * A timer that fires late because the loop was blocked needs nothing more: the reply had
 * even longer to arrive, and the poll that follows reads it. So a reply still missing at
 * the verdict was missing when the socket was read, at least `budgetMs` after the write:
 * Redis (or the network to it) is late, whatever the load of the process.
 */
export class ReplyTimer {
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private writtenAt = 0;
  private stopped = false;

  constructor(
    private readonly budgetMs: number,
    /**
     * Called when the reply is late: `silentForMs` is how long, at least, Redis had left the
     * command unanswered when the socket was last read (ms since `writtenAt`).
     */
    private readonly onLate: (silentForMs: number, writtenAt: number) => void,
  ) {}

  /** Starts the clock: the command's bytes were written at `at` (`performance.now()`, ms). */
  written(at: number): void {
    if (this.stopped) return;
    this.writtenAt = at;
    this.timer = setTimeout(this.fire, this.budgetMs);
  }

  /** The reply arrived (or the call ended otherwise): no verdict. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
  }

  private readonly fire = (): void => {
    // The poll phase after this timers phase reads the socket no earlier than now.
    const silentForMs = performance.now() - this.writtenAt;
    if (silentForMs < this.budgetMs) {
      // libuv rounds timers to the millisecond: wait out the rest.
      this.timer = setTimeout(this.fire, this.budgetMs - silentForMs);
      return;
    }
    this.immediate = setImmediate(() => {
      if (!this.stopped) this.onLate(silentForMs, this.writtenAt);
    });
  };
}
