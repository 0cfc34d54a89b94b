import type { LoggerService } from '@nestjs/common';
import type { Violation } from './violation.js';

/**
 * Logs violations without flooding: per interval, the first `lines` one by one, then a
 * single summary line with how many more there were and how many the stream buffer
 * dropped. At most `lines + 1` lines per interval per instance, whatever the traffic.
 * Only HMAC'd client ids and route templates appear.
 */
export class ViolationLog {
  private readonly timer: NodeJS.Timeout;
  private logged = 0;
  private suppressed = 0;
  private dropped = 0;

  /**
   * Starts the interval timer (unref'd).
   *
   * @param lines Violations logged one by one per interval.
   * @param intervalMs The interval, in ms.
   * @param logger Where the lines go (the module passes Nest's `Logger` with context `RateLimit`).
   */
  constructor(
    private readonly lines: number,
    private readonly intervalMs: number,
    private readonly logger: Pick<LoggerService, 'log' | 'warn'>,
  ) {
    this.timer = setInterval(() => this.summarize(), intervalMs);
    this.timer.unref();
  }

  /** Logs one violation, or counts it for the summary once `lines` were logged this interval. */
  violation(violation: Violation, retryAfterMs: number): void {
    if (!this.wantsLine()) {
      this.suppress();
      return;
    }
    this.logged += 1;
    this.logger.log(
      `${violation.shadow ? 'rate limit would be exceeded (shadow policy, not enforced)' : 'rate limit exceeded'}: ` +
        `client=${violation.client} policy=${violation.policy} tier=${violation.tier} ` +
        `route=${violation.route} retry_after_ms=${retryAfterMs}${violation.shadow ? ' shadow=true' : ''}`,
    );
  }

  /** Whether the next violation is logged on a line of its own (this interval's lines are not all spent). */
  wantsLine(): boolean {
    return this.logged < this.lines;
  }

  /** Counts a violation for the summary line without logging it (once {@link wantsLine} is false). */
  suppress(): void {
    this.suppressed += 1;
  }

  /** Counts violations the stream buffer had no room for (reported in the summary line). */
  droppedFromStream(count: number): void {
    this.dropped += count;
  }

  /** Ends the interval: one summary line if anything was left unsaid. */
  summarize(): void {
    if (this.suppressed > 0 || this.dropped > 0) {
      const parts = [];
      if (this.suppressed > 0) {
        parts.push(`${this.suppressed} more rate-limit ${plural(this.suppressed, 'violation')} not logged one by one`);
      }
      if (this.dropped > 0)
        parts.push(`${this.dropped} ${plural(this.dropped, 'violation')} dropped (stream buffer full)`);
      this.logger.warn(`${parts.join('; ')} in the last ${this.intervalMs / 1000} s`);
    }
    this.logged = 0;
    this.suppressed = 0;
    this.dropped = 0;
  }

  /** Stops the timer and writes the last summary line, if any. */
  close(): void {
    clearInterval(this.timer);
    this.summarize();
  }
}

function plural(count: number, noun: string): string {
  return count === 1 ? noun : `${noun}s`;
}
