import { checkPositiveInteger, checkPositiveNumber } from '../../core/validators.js';

/**
 * The `loadShedding` option: per instance, when this process's event loop lags, routes
 * marked `@ShedUnderLoad()` are answered 503 with `Retry-After` before anything else runs
 * (no Redis call), so the routes that matter keep the CPU.
 */
export interface LoadSheddingOptions {
  /**
   * Shed once the event loop's delay (the longest over the recent window, measured as
   * `perf_hooks.monitorEventLoopDelay` does: how late a 10 ms timer fires) passes this many ms. A positive number; 100–500 suits most APIs.
   */
  maxEventLoopDelayMs: number;
  /** `Retry-After` of a shed request, in seconds: a positive integer. Default 1. */
  retryAfterSeconds?: number;
  /**
   * How long a delay counts as recent, in ms (a positive integer): shedding stops between one
   * and two windows after the last lag. Default 1000.
   */
  windowMs?: number;
}

/** {@link LoadSheddingOptions} validated, with the defaults applied. */
export interface ResolvedLoadShedding {
  maxEventLoopDelayMs: number;
  retryAfterSeconds: number;
  windowMs: number;
}

/** Applies the defaults and validates the option (throws naming the bad field). */
export function resolveLoadShedding(options: LoadSheddingOptions): ResolvedLoadShedding {
  return {
    maxEventLoopDelayMs: checkPositiveNumber('loadShedding.maxEventLoopDelayMs', options.maxEventLoopDelayMs, 'ms'),
    retryAfterSeconds: checkPositiveInteger('loadShedding.retryAfterSeconds', options.retryAfterSeconds ?? 1),
    windowMs: checkPositiveInteger('loadShedding.windowMs', options.windowMs ?? 1000),
  };
}

/** Where event-loop delays come from: the longest one (ms) recorded since the last reset. */
export interface DelaySource {
  maxMs(): number;
  reset(): void;
}

/**
 * Decides whether this instance is overloaded: the longest event-loop delay of the last full
 * window or of the current one passes the threshold. {@link tick} closes a window (called
 * every `windowMs` by a timer, which a blocked loop delays: the delay it just suffered is
 * then still in the window it closes, and so still counts).
 */
export class LoadShedder {
  /** The longest delay (ms) of the window closed last. */
  private previousMaxMs = 0;

  constructor(
    readonly options: ResolvedLoadShedding,
    private readonly source: DelaySource,
  ) {}

  /** Whether a request of a route that sheds first should be refused now. */
  overloaded(): boolean {
    return this.recentDelayMs() > this.options.maxEventLoopDelayMs;
  }

  /** The longest event-loop delay (ms) of the last full window and the current one. */
  recentDelayMs(): number {
    return Math.max(this.previousMaxMs, this.source.maxMs());
  }

  /** Closes the current window: its longest delay becomes the previous window's. */
  tick(): void {
    this.previousMaxMs = this.source.maxMs();
    this.source.reset();
  }
}
