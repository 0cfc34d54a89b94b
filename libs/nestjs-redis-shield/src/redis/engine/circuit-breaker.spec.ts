import { CircuitBreaker, type CircuitState, DEFAULT_BREAKER_OPTIONS } from './circuit-breaker.js';

function setup() {
  let now = 0;
  const changes: CircuitState[] = [];
  const breaker = new CircuitBreaker(
    DEFAULT_BREAKER_OPTIONS,
    (state) => changes.push(state),
    () => now,
  );
  return { breaker, changes, at: (ms: number) => (now = ms) };
}

describe('CircuitBreaker', () => {
  it('opens after 3 back-to-back failures, also when each took a whole timeout', () => {
    const { breaker, changes, at } = setup();
    // Sequential 1 s timeouts: each call starts when the previous one failed.
    at(1000);
    breaker.recordFailure(0);
    at(2000);
    breaker.recordFailure(1000);
    expect(breaker.allowsCalls).toBe(true);
    at(3000);
    breaker.recordFailure(2000);
    expect(breaker.state).toBe('open');
    expect(breaker.allowsCalls).toBe(false);
    expect(changes).toEqual(['open']);
  });

  it('opens on 3 concurrent failures', () => {
    const { breaker, at } = setup();
    at(100);
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    expect(breaker.state).toBe('open');
  });

  it('does not count failures separated by more than the window, nor across a success', () => {
    const { breaker, at } = setup();
    at(0);
    breaker.recordFailure(0);
    breaker.recordFailure(0);
    at(5000);
    breaker.recordFailure(5000); // started 5 s after the last failure: a new streak
    expect(breaker.state).toBe('closed');
    breaker.recordFailure(5000);
    breaker.recordSuccess();
    breaker.recordFailure(5000);
    breaker.recordFailure(5000);
    expect(breaker.state).toBe('closed');
  });

  it('lets exactly one probe through per interval while open, and closes on success', () => {
    const { breaker, changes, at } = setup();
    at(0);
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    expect(breaker.tryAcquireProbe()).toBe(false); // interval not yet passed
    at(1000);
    expect(breaker.tryAcquireProbe()).toBe(true);
    expect(breaker.tryAcquireProbe()).toBe(false); // one in flight
    at(1500);
    breaker.probeFailed();
    expect(breaker.tryAcquireProbe()).toBe(false); // next one only at 2000
    at(2000);
    expect(breaker.tryAcquireProbe()).toBe(true);
    breaker.probeSucceeded();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquireProbe()).toBe(false);
    expect(changes).toEqual(['open', 'closed']);
  });

  it('probes at once on fresh evidence (a reconnect), still one probe at a time and never while closed', () => {
    const { breaker, at } = setup();
    expect(breaker.tryAcquireProbe({ now: true })).toBe(false); // closed: nothing to probe
    at(0);
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    at(10);
    expect(breaker.tryAcquireProbe()).toBe(false); // the interval is not over
    expect(breaker.tryAcquireProbe({ now: true })).toBe(true);
    expect(breaker.tryAcquireProbe({ now: true })).toBe(false); // one in flight
    breaker.probeSucceeded();
    expect(breaker.state).toBe('closed');
  });

  it('a probe that never answers blocks further probes until it settles', () => {
    const { breaker, at } = setup();
    at(0);
    for (let i = 0; i < 3; i++) breaker.recordFailure(0);
    at(1000);
    expect(breaker.tryAcquireProbe()).toBe(true);
    at(10_000);
    expect(breaker.tryAcquireProbe()).toBe(false);
  });
});
