import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { type RedisConnection } from 'nestjs-redis-shield';
import {
  type CacheEntryRef,
  compilePattern,
  INDEX_GRACE_MS,
  ResponseCacheStore,
} from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

const BULK_ENTRIES = 100_000;
const BULK_ROUTES = 50; // 2 000 entries each
const BULK_PATHS = 1000; // 100 entries each
const BULK_USERS = 5000; // 20 entries each
const TTL_MS = 600_000;
const USER = 'measured-user';

const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');

/** Commands an invalidation must never send. */
const FORBIDDEN = ['SCAN', 'KEYS', 'FLUSHDB', 'FLUSHALL'];

describe('ResponseCacheStore cost, counted at a RESP proxy (standalone)', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let connection: RedisConnection;
  let store: ResponseCacheStore;

  const keysNamed = () => proxy.commands.flatMap((command) => proxy.keysOf(command));
  const dbsize = async () => Number(await server.command('DBSIZE'));

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    ({ app, connection } = await startRedisApp({
      url: proxy.url,
      hashSecret: 'cache-cost',
      keyPrefix: 'app:',
      commandTimeoutMs: 2000,
    }));
    store = new ResponseCacheStore(connection);
    await populate();
    // Load every script once, so the counts below are EVALSHAs, not first-time EVALs.
    await store.write(ref('warm-up', {}), Buffer.from('x'), 1000, await store.generation());
    await store.clearTags(['warm-up']);
    await store.clearRoutes(() => false);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await server?.stop();
  });

  /**
   * Writes the bulk entries straight to Redis (not through the proxy), in the store's layout:
   * entry, route, user and path index members, and the registries.
   */
  async function populate(): Promise<void> {
    const { keys } = connection;
    const direct = new Redis({ host: server.host, port: server.port, lazyConnect: true });
    await direct.connect();
    const until = Date.now() + TTL_MS + INDEX_GRACE_MS;
    const value = Buffer.alloc(64, 0xab);
    for (let start = 0; start < BULK_ENTRIES; start += 10_000) {
      const pipeline = direct.pipeline();
      for (let i = start; i < start + 10_000; i++) {
        const digest = digestOf(`bulk-${i}`);
        pipeline.set(keys.cacheEntry(digest), value, 'PX', TTL_MS);
        pipeline.zadd(keys.cacheIndex('route', `Bulk.r${i % BULK_ROUTES}`), until, digest);
        pipeline.zadd(keys.cacheIndex('user', `bulk-user-${i % BULK_USERS}`), until, digest);
        pipeline.zadd(keys.cacheIndex('path', `/bulk/p${i % BULK_PATHS}`), until, digest);
      }
      await pipeline.exec();
    }
    const pipeline = direct.pipeline();
    for (let r = 0; r < BULK_ROUTES; r++) {
      const route = JSON.stringify({ id: `Bulk.r${r}`, template: `/bulk/r${r}/:id` });
      pipeline.hset(keys.cacheMeta('routes'), keys.cacheHash('route', `Bulk.r${r}`), `${until}|${route}`);
    }
    for (let p = 0; p < BULK_PATHS; p++) {
      pipeline.hset(keys.cacheMeta('paths'), keys.cacheHash('path', `/bulk/p${p}`), `${until}|/bulk/p${p}`);
    }
    pipeline.pexpire(keys.cacheMeta('routes'), TTL_MS + INDEX_GRACE_MS);
    pipeline.pexpire(keys.cacheMeta('paths'), TTL_MS + INDEX_GRACE_MS);
    await pipeline.exec();
    direct.disconnect();
  }

  function ref(label: string, over: Partial<CacheEntryRef>): CacheEntryRef {
    return {
      digest: digestOf(label),
      route: { id: 'Measured.one', template: '/measured/:id' },
      path: `/measured/${label}`,
      tags: ['warm-up'],
      ...over,
    };
  }

  it(`clearUser of a user with 10 entries among ${BULK_ENTRIES} names 13 keys (≤ 30) and never SCANs`, async () => {
    const mine = Array.from({ length: 10 }, (_, i) => ref(`mine-${i}`, { userId: USER }));
    const generation = await store.generation();
    for (const entry of mine) expect(await store.write(entry, Buffer.from('mine'), TTL_MS, generation)).toBe(true);
    const before = await dbsize();
    expect(before).toBeGreaterThan(BULK_ENTRIES);

    proxy.reset();
    expect(await store.clearUser(USER)).toBe(10);
    const named = keysNamed();
    expect(proxy.names().filter((name) => FORBIDDEN.includes(name))).toEqual([]);
    // Bump the generation, take the user index, bump again, then one UNLINK per entry.
    expect(proxy.names()).toEqual(['EVALSHA', 'EVALSHA', 'EVALSHA', ...Array(10).fill('UNLINK')]);
    expect(named).toHaveLength(13);
    expect(named.length).toBeLessThanOrEqual(30);
    // 10 entries and the user index are gone; the other 100 000 entries are untouched.
    expect(await dbsize()).toBe(before - 11);
    expect(await store.read(digestOf('bulk-12345'))).not.toBeNull();
  }, 30_000);

  it('clearRoutes and clearPaths cost the registry, the matched indexes and the entries removed', async () => {
    proxy.reset();
    expect(await store.clearRoutes(compilePattern('/bulk/r7/:id'))).toBe(BULK_ENTRIES / BULK_ROUTES);
    // 2 generation bumps + registry read + HDEL + the route's index and shared variant index + 2 000 entries.
    expect(keysNamed()).toHaveLength(6 + BULK_ENTRIES / BULK_ROUTES);
    expect(proxy.names().filter((name) => FORBIDDEN.includes(name))).toEqual([]);

    proxy.reset();
    // Anchored at the end: only /bulk/p8 (not p80...), whose 100 entries are all in route r8.
    expect(await store.clearPaths(compilePattern('*/bulk/p8'))).toBe(BULK_ENTRIES / BULK_PATHS);
    expect(keysNamed()).toHaveLength(5 + BULK_ENTRIES / BULK_PATHS);
    expect(proxy.names().filter((name) => FORBIDDEN.includes(name))).toEqual([]);
  }, 30_000);

  it('a read is one GET; a write is one round of index scripts, one of registry scripts + SET, one GET', async () => {
    const entry = ref('counted', { userId: USER, tags: ['a', 'b'] });
    const generation = await store.generation();
    proxy.reset();
    expect(await store.write(entry, Buffer.from('v'), TTL_MS, generation)).toBe(true);
    // route, route-in-scope (variants), user, 2 tags, path indexes; route and path registries; the entry; the generation.
    expect(proxy.names()).toEqual([...Array(6).fill('EVALSHA'), 'EVALSHA', 'EVALSHA', 'SET', 'GET']);
    proxy.reset();
    expect((await store.read(entry.digest))?.toString()).toBe('v');
    expect(proxy.names()).toEqual(['GET']);
  });
});
