import { jest } from '@jest/globals';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import type { CacheCountDetail, ResponseCacheStore } from '../store/response-cache.store.js';
import { CacheStatsCounter, STATS_FLUSH_INTERVAL_MS } from './cache-stats.counter.js';

/** A counter over a store whose `addCounts` calls the test settles by hand, and the connection's drain. */
function setup() {
  const added: [hits: number, misses: number][] = [];
  const details: Partial<CacheCountDetail>[] = [];
  const settle: ((error?: Error) => void)[] = [];
  const store = {
    addCounts: (hits: number, misses: number, detail: Partial<CacheCountDetail> = {}) => {
      added.push([hits, misses]);
      details.push(detail);
      return new Promise<void>((resolve, reject) => settle.push((error) => (error ? reject(error) : resolve())));
    },
  };
  let drain: (() => Promise<void>) | undefined;
  const connection = { beforeClose: (fn: () => Promise<void>) => (drain = fn) };
  const counter = new CacheStatsCounter(
    store as unknown as ResponseCacheStore,
    connection as unknown as RedisConnection,
  );
  return { counter, added, details, settle, close: () => drain!() };
}

const NO_DETAIL: CacheCountDetail = {
  l1Hits: 0,
  staleRevalidate: 0,
  staleError: 0,
  leaseFilled: 0,
  leaseTimeout: 0,
  leaseLeader: 0,
  refreshStored: 0,
  refreshFailed: 0,
};

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

  it('counts hits by tier (L1 hits are hits too), stale serves, lease waits and refreshes, in the same flush', async () => {
    jest.useFakeTimers();
    const { counter, added, details, settle, close } = setup();
    counter.hit('l1');
    counter.hit('l1');
    counter.hit();
    counter.hit('l2');
    counter.miss();
    counter.stale('revalidate');
    counter.stale('revalidate');
    counter.stale('error');
    counter.leaseWait('filled');
    counter.leaseWait('filled');
    counter.leaseWait('filled');
    counter.leaseWait('timeout');
    counter.leaseWait('leader');
    counter.refresh('stored');
    counter.refresh('failed');
    counter.refresh('failed');
    await jest.advanceTimersByTimeAsync(STATS_FLUSH_INTERVAL_MS);
    expect(added).toEqual([[4, 1]]);
    expect(details).toEqual([
      {
        l1Hits: 2,
        staleRevalidate: 2,
        staleError: 1,
        leaseFilled: 3,
        leaseTimeout: 1,
        leaseLeader: 1,
        refreshStored: 1,
        refreshFailed: 2,
      },
    ]);
    settle[0]();
    await close();
  });

  it('flushes a tally alone (no hit or miss), and keeps tallies that could not be added for the next flush', async () => {
    const { counter, added, details, settle, close } = setup();
    counter.refresh('failed');
    const flushed = counter.flush();
    await nextTurn();
    expect(added).toEqual([[0, 0]]);
    expect(details).toEqual([{ ...NO_DETAIL, refreshFailed: 1 }]);
    counter.leaseWait('timeout');
    counter.hit('l1');
    settle[0](new Error('Redis unavailable'));
    await flushed;
    const retried = counter.flush();
    await nextTurn();
    expect(added[1]).toEqual([1, 0]);
    expect(details[1]).toEqual({ ...NO_DETAIL, refreshFailed: 1, leaseTimeout: 1, l1Hits: 1 });
    settle[1]();
    await retried;
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
