import type { INestApplication } from '@nestjs/common';
import {
  type RedisCommandEvent,
  type RedisConnection,
  type RedisModuleOptions,
  ShieldEvents,
} from 'nestjs-redis-shield';
import { CacheStatsCounter } from '../../../libs/nestjs-redis-shield/src/cache/nest/cache-stats.counter.js';
import { ResponseCacheStore } from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

// The distributed cache's statistics cover every instance: each instance counts in
// process and adds its counts to one Redis hash once per second, in one transaction.

/** One application instance: its own connection, store and counter, and the Redis calls it made. */
interface Instance {
  app: INestApplication;
  connection: RedisConnection;
  store: ResponseCacheStore;
  counter: CacheStatsCounter;
  commands: RedisCommandEvent[];
}

describe.each<{ name: string; start: () => Promise<RedisServer | RedisCluster> }>([
  { name: 'standalone', start: () => startRedis() },
  { name: 'cluster', start: () => startRedisCluster() },
])('cache statistics of two instances on $name Redis', ({ start }) => {
  let redis: RedisServer | RedisCluster;
  let a: Instance;
  let b: Instance;

  const target = (): RedisModuleOptions => ('seeds' in redis ? { clusterNodes: redis.seeds } : { url: redis.url });
  const masters = async (): Promise<RedisServer[]> => ('masters' in redis ? redis.masters() : [redis]);

  async function startInstance(): Promise<Instance> {
    const { app, connection } = await startRedisApp({
      ...target(),
      hashSecret: 'cache-stats',
      keyPrefix: 'stats-test:',
      commandTimeoutMs: 2000,
    });
    const store = new ResponseCacheStore(connection);
    const counter = new CacheStatsCounter(store, connection);
    const commands: RedisCommandEvent[] = [];
    app.get(ShieldEvents).on('redis.command', (event) => commands.push(event));
    return { app, connection, store, counter, commands };
  }

  beforeAll(async () => {
    redis = await start();
    [a, b] = await Promise.all([startInstance(), startInstance()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a, b].map((instance) => instance?.app.close()));
    await redis?.stop();
  });

  beforeEach(async () => {
    await Promise.all((await masters()).map((node) => node.command('FLUSHALL')));
    for (const instance of [a, b]) instance.commands.length = 0;
  });

  it('adds what each instance counted: hits by tier, misses, stale serves, lease waits, refreshes', async () => {
    const empty = await a.store.stats();
    expect(empty).toMatchObject({
      hits: 0,
      l1Hits: 0,
      l2Hits: 0,
      misses: 0,
      stale: { revalidate: 0, error: 0 },
      leaseWaits: { filled: 0, timeout: 0, leader: 0 },
      refreshes: { stored: 0, failed: 0 },
    });

    // Instance A: an L1-heavy instance that served stale entries and led after waits.
    for (let i = 0; i < 5; i++) a.counter.hit('l1');
    a.counter.hit('l2');
    a.counter.miss();
    a.counter.stale('revalidate');
    a.counter.stale('revalidate');
    a.counter.leaseWait('leader');
    a.counter.refresh('stored');
    a.counter.refresh('stored');
    // Instance B: Redis hits, waits that were filled or timed out, a failing refresh.
    b.counter.hit();
    b.counter.hit();
    b.counter.hit('l1');
    b.counter.miss();
    b.counter.miss();
    b.counter.stale('error');
    b.counter.stale('revalidate');
    b.counter.leaseWait('filled');
    b.counter.leaseWait('filled');
    b.counter.leaseWait('timeout');
    b.counter.refresh('failed');
    await Promise.all([a.counter.flush(), b.counter.flush()]);

    const expected = {
      hits: 9,
      l1Hits: 6,
      l2Hits: 3,
      misses: 3,
      stale: { revalidate: 3, error: 1 },
      leaseWaits: { filled: 2, timeout: 1, leader: 1 },
      refreshes: { stored: 2, failed: 1 },
    };
    // Either instance reads the same sums.
    expect(await a.store.stats()).toMatchObject(expected);
    expect(await b.store.stats()).toMatchObject(expected);

    // Later flushes add to them.
    a.counter.leaseWait('timeout');
    b.counter.hit('l1');
    await Promise.all([a.counter.flush(), b.counter.flush()]);
    expect(await b.store.stats()).toMatchObject({
      ...expected,
      hits: 10,
      l1Hits: 7,
      leaseWaits: { filled: 2, timeout: 2, leader: 1 },
    });
  });

  it('sends one transaction per flush however many counts changed, into one hash without a TTL', async () => {
    a.counter.hit('l1');
    a.counter.hit();
    a.counter.miss();
    a.counter.stale('error');
    a.counter.leaseWait('leader');
    a.counter.refresh('failed');
    await a.counter.flush();
    expect(a.commands.map(({ command, outcome }) => [command, outcome])).toEqual([['cache_stats_add', 'ok']]);
    const key = a.connection.keys.cacheMeta('stats');
    expect(await a.connection.client.hgetall(key)).toEqual({
      hits: '2',
      l1_hits: '1',
      misses: '1',
      stale_error: '1',
      lease_leader: '1',
      refresh_failed: '1',
    });
    expect(await a.connection.client.pttl(key)).toBe(-1);
    // Nothing counted since: no command at all.
    await a.counter.flush();
    expect(a.commands).toHaveLength(1);
  });

  it('reads hits added by an instance of an earlier version (no l1_hits field) as Redis hits', async () => {
    await a.connection.client.hincrby(a.connection.keys.cacheMeta('stats'), 'hits', 4);
    b.counter.hit('l1');
    await b.counter.flush();
    expect(await a.store.stats()).toMatchObject({ hits: 5, l1Hits: 1, l2Hits: 4 });
  });

  it('refuses counts that are not non-negative integers, or more L1 hits than hits, before Redis', async () => {
    await expect(a.store.addCounts(0, 0, { leaseFilled: -1 })).rejects.toMatchObject({ code: 'SHIELD_E009' });
    await expect(a.store.addCounts(0, 0, { refreshStored: 0.5 })).rejects.toThrow(RangeError);
    await expect(a.store.addCounts(1, 0, { l1Hits: 2 })).rejects.toThrow(/l1Hits/);
    expect(a.commands).toEqual([]);
    expect(await a.store.stats()).toMatchObject({ hits: 0, misses: 0, leaseWaits: { filled: 0 } });
  });
});
