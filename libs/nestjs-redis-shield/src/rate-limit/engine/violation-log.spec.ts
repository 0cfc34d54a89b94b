import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CaptureLogger, type LogLine } from '../../../../../test/support/capture-logger.js';
import type { Violation } from './violation.js';
import { ViolationLog } from './violation-log.js';

const INTERVAL_MS = 10_000;

function violation(n: number): Violation {
  return {
    client: `ip:${'A'.repeat(21)}${n % 10}`,
    policy: 'default',
    tier: 'minute',
    route: '/api/v1/x',
    atMs: n,
    shadow: false,
  };
}

let logger: CaptureLogger;

/** What the log wrote under its context, one entry per line. */
function written(): LogLine[] {
  return logger.of('RateLimit');
}

function summaries(): string[] {
  return written()
    .filter((line) => line.level === 'warn')
    .map((line) => line.message);
}

function singles(): string[] {
  return written()
    .filter((line) => line.level === 'log')
    .map((line) => line.message);
}

beforeEach(() => {
  jest.useFakeTimers();
  logger = new CaptureLogger();
  Logger.overrideLogger(logger);
});

afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
});

describe('ViolationLog', () => {
  it('logs the first `lines` violations one by one with client, policy, tier, route and retry-after', () => {
    const log = new ViolationLog(3, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 10; i++) log.violation(violation(i), 1500 + i);
    expect(singles()).toEqual([
      `rate limit exceeded: client=ip:${'A'.repeat(21)}0 policy=default tier=minute route=/api/v1/x retry_after_ms=1500`,
      `rate limit exceeded: client=ip:${'A'.repeat(21)}1 policy=default tier=minute route=/api/v1/x retry_after_ms=1501`,
      `rate limit exceeded: client=ip:${'A'.repeat(21)}2 policy=default tier=minute route=/api/v1/x retry_after_ms=1502`,
    ]);
    // The summary waits for the end of the interval.
    expect(summaries()).toEqual([]);
    log.close();
  });

  it('ends the interval with one summary line giving the exact number not logged', () => {
    const log = new ViolationLog(3, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 10; i++) log.violation(violation(i), 1000);
    jest.advanceTimersByTime(INTERVAL_MS - 1);
    expect(summaries()).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(summaries()).toEqual(['7 more rate-limit violations not logged one by one in the last 10 s']);
    expect(written()).toHaveLength(4);
    log.close();
  });

  it('writes at most lines + 1 lines per interval under a flood', () => {
    const log = new ViolationLog(5, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 100_000; i++) log.violation(violation(i), 1000);
    jest.advanceTimersByTime(INTERVAL_MS);
    expect(singles()).toHaveLength(5);
    expect(summaries()).toEqual(['99995 more rate-limit violations not logged one by one in the last 10 s']);
    log.close();
  });

  it('reports drops from the stream buffer in the summary, summed over the interval', () => {
    const log = new ViolationLog(1, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 3; i++) log.violation(violation(i), 1000);
    log.droppedFromStream(4);
    log.droppedFromStream(2);
    jest.advanceTimersByTime(INTERVAL_MS);
    expect(summaries()).toEqual([
      '2 more rate-limit violations not logged one by one; 6 violations dropped (stream buffer full) in the last 10 s',
    ]);
    log.close();
  });

  it('writes a summary for drops alone, when every violation was logged one by one', () => {
    const log = new ViolationLog(5, INTERVAL_MS, new Logger('RateLimit'));
    log.violation(violation(0), 1000);
    log.droppedFromStream(1);
    jest.advanceTimersByTime(INTERVAL_MS);
    expect(summaries()).toEqual(['1 violation dropped (stream buffer full) in the last 10 s']);
    log.close();
  });

  it('writes no summary when nothing was suppressed or dropped', () => {
    const log = new ViolationLog(5, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 5; i++) log.violation(violation(i), 1000);
    jest.advanceTimersByTime(3 * INTERVAL_MS);
    expect(singles()).toHaveLength(5);
    expect(summaries()).toEqual([]);
    log.close();
    expect(summaries()).toEqual([]);
  });

  it('starts every interval afresh: lines, suppressed and dropped counts reset', () => {
    const log = new ViolationLog(3, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 8; i++) log.violation(violation(i), 1000);
    log.droppedFromStream(2);
    jest.advanceTimersByTime(INTERVAL_MS);
    for (let i = 0; i < 4; i++) log.violation(violation(i), 1000);
    jest.advanceTimersByTime(INTERVAL_MS);
    jest.advanceTimersByTime(INTERVAL_MS); // a quiet interval: nothing to say
    expect(singles()).toHaveLength(6);
    expect(summaries()).toEqual([
      '5 more rate-limit violations not logged one by one; 2 violations dropped (stream buffer full) in the last 10 s',
      '1 more rate-limit violation not logged one by one in the last 10 s',
    ]);
    log.close();
  });

  it('with lines: 0 writes the summary only', () => {
    const log = new ViolationLog(0, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 4; i++) log.violation(violation(i), 1000);
    jest.advanceTimersByTime(INTERVAL_MS);
    expect(singles()).toEqual([]);
    expect(summaries()).toEqual(['4 more rate-limit violations not logged one by one in the last 10 s']);
    log.close();
  });

  it('names the interval length in seconds', () => {
    const log = new ViolationLog(0, 60_000, new Logger('RateLimit'));
    log.violation(violation(0), 1000);
    jest.advanceTimersByTime(60_000);
    expect(summaries()).toEqual(['1 more rate-limit violation not logged one by one in the last 60 s']);
    log.close();
  });

  it('close() writes the pending summary at once and stops the timer', () => {
    const log = new ViolationLog(1, INTERVAL_MS, new Logger('RateLimit'));
    for (let i = 0; i < 3; i++) log.violation(violation(i), 1000);
    log.droppedFromStream(1);
    jest.advanceTimersByTime(INTERVAL_MS / 2);
    expect(jest.getTimerCount()).toBe(1);
    log.close();
    expect(summaries()).toEqual([
      '2 more rate-limit violations not logged one by one; 1 violation dropped (stream buffer full) in the last 10 s',
    ]);
    expect(jest.getTimerCount()).toBe(0);
    // Nothing is summarized any more by the timer.
    log.violation(violation(3), 1000);
    log.violation(violation(4), 1000);
    jest.advanceTimersByTime(5 * INTERVAL_MS);
    expect(summaries()).toHaveLength(1);
  });
});
