import { jest } from '@jest/globals';
import { TIMED_OUT, withTimeout } from './timeout.js';

afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
});

/** A promise with its settle functions, to decide the race by hand. */
function pending<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('withTimeout', () => {
  it("resolves with the work's value when it settles first, and clears its timer", async () => {
    jest.useFakeTimers();
    const work = pending<string>();
    const raced = withTimeout(work.promise, 1000);
    expect(jest.getTimerCount()).toBe(1);
    work.resolve('done');
    await expect(raced).resolves.toBe('done');
    expect(jest.getTimerCount()).toBe(0);
  });

  it("rejects with the work's error when it fails first, and clears its timer", async () => {
    jest.useFakeTimers();
    const work = pending<string>();
    const raced = withTimeout(work.promise, 1000);
    work.reject(new Error('refused'));
    await expect(raced).rejects.toThrow('refused');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('resolves with TIMED_OUT once the deadline passed; a late settlement changes nothing', async () => {
    jest.useFakeTimers();
    const work = pending<string>();
    const raced = withTimeout(work.promise, 1000);
    jest.advanceTimersByTime(999);
    let outcome: unknown = 'open';
    void raced.then((value) => (outcome = value));
    await Promise.resolve();
    expect(outcome).toBe('open');
    jest.advanceTimersByTime(1);
    await expect(raced).resolves.toBe(TIMED_OUT);
    work.reject(new Error('too late'));
    await expect(raced).resolves.toBe(TIMED_OUT);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a work that never settles still ends the race (real timers), unref or not', async () => {
    const never = new Promise<never>(() => undefined);
    await expect(withTimeout(never, 5)).resolves.toBe(TIMED_OUT);
    await expect(withTimeout(never, 5, { unref: true })).resolves.toBe(TIMED_OUT);
  });

  it('accepts a value that is already settled: no wait', async () => {
    jest.useFakeTimers();
    await expect(withTimeout(Promise.resolve(7), 1000)).resolves.toBe(7);
    expect(jest.getTimerCount()).toBe(0);
  });
});
