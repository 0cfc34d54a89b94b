import { Logger } from '@nestjs/common';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { IntervalLog } from '../../core/interval-log.js';
import { type DelaySource, LoadShedder, type ResolvedLoadShedding } from '../engine/load-shedding.js';

/** The histogram's sampling resolution, in ms: delays shorter than this go unseen, as they should. */
const RESOLUTION_MS = 10;

/**
 * This process's event-loop delay, from `perf_hooks.monitorEventLoopDelay` (a libuv timer
 * every {@link RESOLUTION_MS} ms, measured in ns).
 */
function eventLoopDelay(): DelaySource & { stop(): void } {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  return {
    maxMs: () => histogram.max / 1e6,
    reset: () => histogram.reset(),
    stop: () => histogram.disable(),
  };
}

/**
 * The guard's load shedder: the decision ({@link LoadShedder}) fed by this process's event
 * loop, its window closed by an unref'd timer (it never keeps the process alive). Logs at
 * most one line per 10 s while it sheds.
 */
export class EventLoopShedder {
  private readonly logger = new Logger('RateLimit');
  private readonly lines = new IntervalLog(10_000);
  private readonly shedder: LoadShedder;
  private readonly source: DelaySource & { stop(): void };
  private readonly timer: NodeJS.Timeout;

  constructor(readonly options: ResolvedLoadShedding) {
    this.source = eventLoopDelay();
    this.shedder = new LoadShedder(options, this.source);
    this.timer = setInterval(() => this.shedder.tick(), options.windowMs);
    this.timer.unref();
  }

  /** Whether a request of a route that sheds first should be refused now (logged, at most once per 10 s). */
  overloaded(): boolean {
    if (!this.shedder.overloaded()) return false;
    if (this.lines.due()) {
      this.logger.warn(
        `shedding @ShedUnderLoad routes: event-loop delay ${Math.round(this.shedder.recentDelayMs())} ms ` +
          `> ${this.options.maxEventLoopDelayMs} ms`,
      );
    }
    return true;
  }

  /** Stops the timer and the histogram. */
  stop(): void {
    clearInterval(this.timer);
    this.source.stop();
  }
}
