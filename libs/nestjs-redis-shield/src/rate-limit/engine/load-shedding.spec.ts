import { type DelaySource, LoadShedder, resolveLoadShedding } from './load-shedding.js';

/** A delay source the test drives: the longest delay recorded since the last reset. */
class FakeDelays implements DelaySource {
  private max = 0;
  record(ms: number): void {
    this.max = Math.max(this.max, ms);
  }
  maxMs(): number {
    return this.max;
  }
  reset(): void {
    this.max = 0;
  }
}

describe('LoadShedder', () => {
  const options = resolveLoadShedding({ maxEventLoopDelayMs: 100 });

  it('sheds once a recent delay passes the threshold, not at it', () => {
    const delays = new FakeDelays();
    const shedder = new LoadShedder(options, delays);
    expect(shedder.overloaded()).toBe(false);
    delays.record(100);
    expect(shedder.overloaded()).toBe(false);
    delays.record(100.5);
    expect(shedder.overloaded()).toBe(true);
    expect(shedder.recentDelayMs()).toBe(100.5);
  });

  it('remembers a lag for one more window, then forgets it', () => {
    const delays = new FakeDelays();
    const shedder = new LoadShedder(options, delays);
    delays.record(300);
    shedder.tick(); // the window with the lag closes: it is still recent
    expect(shedder.overloaded()).toBe(true);
    delays.record(20);
    shedder.tick(); // a calm window closes: the lag is forgotten
    expect(shedder.overloaded()).toBe(false);
    expect(shedder.recentDelayMs()).toBe(20);
  });

  it('applies the defaults and refuses bad options, naming them', () => {
    expect(resolveLoadShedding({ maxEventLoopDelayMs: 50 })).toEqual({
      maxEventLoopDelayMs: 50,
      retryAfterSeconds: 1,
      windowMs: 1000,
    });
    expect(() => resolveLoadShedding({ maxEventLoopDelayMs: 0 })).toThrow(
      /loadShedding.maxEventLoopDelayMs=0: expected a positive number of ms/,
    );
    expect(() => resolveLoadShedding({ maxEventLoopDelayMs: 50, retryAfterSeconds: 1.5 })).toThrow(
      /loadShedding.retryAfterSeconds=1.5/,
    );
    expect(() => resolveLoadShedding({ maxEventLoopDelayMs: 50, windowMs: -1 })).toThrow(/loadShedding.windowMs=-1/);
  });
});
