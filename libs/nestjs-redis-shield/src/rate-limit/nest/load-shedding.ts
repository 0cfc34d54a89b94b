import { Logger } from '@nestjs/common';
import { IntervalLog } from '../../core/interval-log.js';
import { type DelaySource, LoadShedder, type ResolvedLoadShedding } from '../engine/load-shedding.js';

/** How often the loop is sampled, in ms: delays shorter than this go unseen, as they should. */
const RESOLUTION_MS = 10;

/**
 * This process's event-loop delay, measured as `perf_hooks.monitorEventLoopDelay` does (how
 * late a timer due every {@link RESOLUTION_MS} ms fires), by an unref'd timer of its own:
 * the histogram's `reset()` also forgets when it last sampled, so a lag that ended just as
 * a window closed (the window's timer running before the histogram's next sample) was never
 * recorded. Here a window's reset keeps the last sample's time. Internal (exported for its test).
 */
export function eventLoopDelay(): DelaySource & { stop(): void } {
  let last = performance.now();
  let maxMs = 0;
  const sampler = setInterval(() => {
    const now = performance.now();
    maxMs = Math.max(maxMs, now - last - RESOLUTION_MS);
    last = now;
  }, RESOLUTION_MS);
  sampler.unref();
  return {
    maxMs: () => maxMs,
    reset: () => (maxMs = 0),
    stop: () => clearInterval(sampler),
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
