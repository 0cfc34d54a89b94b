import { jest } from '@jest/globals';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import type { ResponseCacheStore } from '../store/response-cache.store.js';
import { CacheStatsCounter, STATS_FLUSH_INTERVAL_MS } from './cache-stats.counter.js';

/** A counter over a store whose `addCounts` calls the test settles by hand, and the connection's drain. */
function setup() {
  const added: [hits: number, misses: number][] = [];
  const settle: ((error?: Error) => void)[] = [];
  const store = {
    addCounts: (hits: number, misses: number) => {
      added.push([hits, misses]);
      return new Promise<void>((resolve, reject) => settle.push((error) => (error ? reject(error) : resolve())));
    },
  };
  let drain: (() => Promise<void>) | undefined;
  const connection = { beforeClose: (fn: () => Promise<void>) => (drain = fn) };
  const counter = new CacheStatsCounter(
    store as unknown as ResponseCacheStore,
    connection as unknown as RedisConnection,
  );
  return { counter, added, settle, close: () => drain!() };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
});

describe('CacheStatsCounter', () => {
  it('adds the counts to Redis in one call per interval, none when there were none', async () => {
    jest.useFakeTimers();
    const { counter, added, settle, close } = setup();
    await jest.advanceTimersByTimeAsync(STATS_FLUSH_INTERVAL_MS);
    expect(added).toEqual([]);
    counter.hit();
    counter.hit();
    counter.miss();
    await jest.advanceTimersByTimeAsync(STATS_FLUSH_INTERVAL_MS);
    expect(added).toEqual([[2, 1]]);
    settle[0]();
    await close();
  });

  it('keeps counts that could not be added, with those counted since, for the next flush', async () => {
    const { counter, added, settle, close } = setup();
    counter.hit();
    const flushed = counter.flush();
    await nextTurn();
    counter.miss();
    settle[0](new Error('Redis unavailable'));
    await expect(flushed).resolves.toBeUndefined();
    const retried = counter.flush();
    await nextTurn();
    expect(added).toEqual([
      [1, 0],
      [1, 1],
    ]);
    settle[1]();
    await retried;
    await close();
  });

  it('flush waits for a flush in flight, then adds what came meanwhile (what getStats reads)', async () => {
    const { counter, added, settle, close } = setup();
    counter.hit();
    const first = counter.flush();
    await nextTurn();
    counter.hit();
    counter.miss();
    let done = false;
    const second = counter.flush().then(() => (done = true));
    settle[0]();
    await first;
    await nextTurn();
    expect(added).toEqual([
      [1, 0],
      [1, 1],
    ]);
    expect(done).toBe(false);
    settle[1]();
    await second;
    expect(done).toBe(true);
    await close();
  });

  it('adds the last counts when the connection closes, and stops flushing', async () => {
    jest.useFakeTimers();
    const { counter, added, settle, close } = setup();
    counter.miss();
    const closing = close();
    await jest.advanceTimersByTimeAsync(0);
    expect(added).toEqual([[0, 1]]);
    settle[0]();
    await closing;
    counter.hit();
    await jest.advanceTimersByTimeAsync(10 * STATS_FLUSH_INTERVAL_MS);
    expect(added).toEqual([[0, 1]]);
  });
});
