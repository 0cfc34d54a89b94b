/** Tuning of a connection's circuit breaker (`RedisModuleOptions.breaker`); all durations in milliseconds. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 3. */
  failureThreshold: number;
  /**
   * Failures are consecutive while each failing call started within this many ms of
   * the previous failure (so back-to-back timeouts count, an old failure does not).
   * Default 1000.
   */
  failureWindowMs: number;
  /** While open, at most one probe is let through per this many ms. Default 1000. */
  probeIntervalMs: number;
}

/** The breaker defaults: open after 3 failures within 1000 ms, one probe per 1000 ms. */
export const DEFAULT_BREAKER_OPTIONS: CircuitBreakerOptions = {
  failureThreshold: 3,
  failureWindowMs: 1000,
  probeIntervalMs: 1000,
};

/** `closed`: calls go to Redis. `open`: calls are skipped; only probes go through. */
export type CircuitState = 'closed' | 'open';

/**
 * One breaker per connection: opens after `failureThreshold` consecutive timeouts or
 * connection errors, skips Redis while open, lets one probe through per interval and
 * closes on the first successful probe (or any successful call). Command errors (OOM,
 * WRONGTYPE) must not be reported here: the server answered.
 *
 * Pure state machine: time comes from `now` (ms, monotonic) so it is unit-testable.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private consecutiveFailures = 0;
  private lastFailureAt = Number.NEGATIVE_INFINITY;
  private nextProbeAt = 0;
  private probeInFlight = false;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly onChange: (state: CircuitState, failures: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get state(): CircuitState {
    return this.current;
  }

  /** Whether a regular call may go to Redis now. */
  get allowsCalls(): boolean {
    return this.current === 'closed';
  }

  recordSuccess(): void {
    this.consecutiveFailures = 0;
    if (this.current === 'open') this.transition('closed');
  }

  /** Records a timeout or connection error of a call that started at `startedAt` (ms). */
  recordFailure(startedAt: number): void {
    if (startedAt - this.lastFailureAt > this.options.failureWindowMs) this.consecutiveFailures = 0;
    this.consecutiveFailures += 1;
    this.lastFailureAt = this.now();
    if (this.current === 'closed' && this.consecutiveFailures >= this.options.failureThreshold) {
      this.nextProbeAt = this.lastFailureAt + this.options.probeIntervalMs;
      this.transition('open');
    }
  }

  /**
   * Claims the single probe slot when the circuit is open, the interval has passed and
   * no probe is in flight (`now: true` skips the interval: fresh evidence, e.g. a
   * reconnect). The caller reports the outcome with {@link probeSucceeded}
   * or {@link probeFailed}.
   */
  tryAcquireProbe({ now = false } = {}): boolean {
    if (this.current === 'closed' || this.probeInFlight || (!now && this.now() < this.nextProbeAt)) return false;
    this.probeInFlight = true;
    this.nextProbeAt = this.now() + this.options.probeIntervalMs;
    return true;
  }

  probeSucceeded(): void {
    this.probeInFlight = false;
    this.recordSuccess();
  }

  probeFailed(): void {
    this.probeInFlight = false;
  }

  private transition(state: CircuitState): void {
    this.current = state;
    this.onChange(state, this.consecutiveFailures);
  }
}
