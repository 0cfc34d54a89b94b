import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { type RedisConnection } from 'nestjs-redis-shield';
import {
  ADMIN_BATCH,
  type CacheEntryRef,
  compilePattern,
  INDEX_GRACE_MS,
  ResponseCacheStore,
} from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { REGISTRY_PRUNE_LUA } from '../../../libs/nestjs-redis-shield/src/cache/store/lua/registry-prune.lua.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

const BULK_ENTRIES = 100_000;
const BULK_ROUTES = 50; // 2 000 entries each
const BULK_PATHS = 1000; // 100 entries each
const BULK_USERS = 5000; // 20 entries each
const EXPIRED_PATHS = 600; // registry fields whose entries all expired: 2 prune scripts (500 + 100)
const TTL_MS = 600_000;
const USER = 'measured-user';

const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');
/** What EVALSHA names the prune script by (ioredis sends the SHA-1 of the script's text). */
const PRUNE_SHA = createHash('sha1').update(REGISTRY_PRUNE_LUA).digest('hex');

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
    // Load every script once, so the counts below are EVALSHAs, not first-time EVALs. The
    // warm-up entry lives as long as the bulk, so no registry field expires during the run.
    await store.write(ref('warm-up', {}), Buffer.from('x'), TTL_MS, await store.generation());
    await store.clearTags(['warm-up']);
    await store.clearRoutes(() => false);
    await addExpiredPaths(1); // loads the prune script
    await store.clearPaths(() => false);
    await addExpiredPaths(EXPIRED_PATHS);
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

  /** Registry fields of paths whose entries all expired a minute ago (written straight to Redis). */
  async function addExpiredPaths(count: number): Promise<void> {
    const { keys } = connection;
    const args = Array.from({ length: count }, (_, p) => {
      const path = `/expired/p${p}`;
      return [keys.cacheHash('path', path), `${Date.now() - 60_000}|${path}`];
    }).flat();
    await server.command('HSET', keys.cacheMeta('paths'), ...args);
  }

  /**
   * How many `HSCAN … COUNT 500` calls a full scan of `key` takes right now, scanned
   * straight at Redis. `COUNT` is a hint (a hash table returns whole buckets, a small hash
   * comes in one call), and the same unchanged hash scans the same way, so this is the
   * exact number the store's scan of it sends.
   */
  async function hscanCalls(key: string): Promise<number> {
    let [calls, cursor] = [0, '0'];
    do {
      const [next] = (await server.command('HSCAN', key, cursor, 'COUNT', String(ADMIN_BATCH))) as [string];
      [calls, cursor] = [calls + 1, next];
    } while (cursor !== '0');
    return calls;
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
    const { keys } = connection;
    const count = (name: string) => proxy.count(name);
    const routeScans = await hscanCalls(keys.cacheMeta('routes'));
    proxy.reset();
    expect(await store.clearRoutes(compilePattern('/bulk/r7/:id'))).toBe(BULK_ENTRIES / BULK_ROUTES);
    // Scripts: 2 generation bumps + the route index's 2 000 members popped 500 per step (4 steps)
    // + 1 step for the (empty) shared variant index. The 51 routes are read by HSCAN (1 call:
    // a small hash comes whole) and none is expired; 1 HDEL unregisters r7; 2 000 entries.
    expect(count('EVALSHA')).toBe(2 + BULK_ENTRIES / BULK_ROUTES / ADMIN_BATCH + 1);
    expect(routeScans).toBe(1);
    expect([count('HSCAN'), count('HDEL'), count('UNLINK')]).toEqual([1, 1, BULK_ENTRIES / BULK_ROUTES]);
    // Every command names one key: 7 scripts + 1 HSCAN + 1 HDEL + 2 000 UNLINKs (was 6 + 2 000
    // when one script took each index whole and another read the registry with HGETALL).
    expect(keysNamed()).toHaveLength(9 + BULK_ENTRIES / BULK_ROUTES);
    expect(proxy.count()).toBe(9 + BULK_ENTRIES / BULK_ROUTES);
    expect(proxy.names().filter((name) => FORBIDDEN.includes(name))).toEqual([]);

    const registry = keys.cacheMeta('paths');
    const fieldsBefore = Number(await server.command('HLEN', registry));
    const pathScans = await hscanCalls(registry);
    proxy.reset();
    // Anchored at the end: only /bulk/p8 (not p80...), whose 100 entries are all in route r8.
    expect(await store.clearPaths(compilePattern('*/bulk/p8'))).toBe(BULK_ENTRIES / BULK_PATHS);
    // Scripts: 2 generation bumps + the 600 expired fields pruned 500 per script (2 scripts:
    // 500 + 100) + the path index's 100 members in 1 step. The 1 600-odd fields are read in
    // pages of about 500 (HSCAN COUNT is a hint: as many calls as a direct scan takes);
    // 1 HDEL unregisters p8; 100 entries.
    expect(count('EVALSHA')).toBe(2 + Math.ceil(EXPIRED_PATHS / ADMIN_BATCH) + 1);
    expect([count('HSCAN'), count('HDEL'), count('UNLINK')]).toEqual([pathScans, 1, BULK_ENTRIES / BULK_PATHS]);
    expect(pathScans).toBeGreaterThanOrEqual(Math.ceil(fieldsBefore / ADMIN_BATCH));
    // EVALSHA <sha> 1 <registry> <now> <field>...: the fields each prune script checked.
    const pruned = proxy.commands.filter((c) => c.name === 'EVALSHA' && c.args[0] === PRUNE_SHA);
    expect(pruned.map((c) => c.args.length - 4)).toEqual([ADMIN_BATCH, EXPIRED_PATHS - ADMIN_BATCH]);
    // Every command names one key: 5 scripts + the HSCANs + 1 HDEL + 100 UNLINKs (was 5 + 100).
    expect(keysNamed()).toHaveLength(5 + pathScans + 1 + BULK_ENTRIES / BULK_PATHS);
    expect(proxy.count()).toBe(5 + pathScans + 1 + BULK_ENTRIES / BULK_PATHS);
    expect(proxy.names().filter((name) => FORBIDDEN.includes(name))).toEqual([]);
    // The expired fields and p8 are gone from the registry; the other paths stay.
    expect(Number(await server.command('HLEN', registry))).toBe(fieldsBefore - EXPIRED_PATHS - 1);
  }, 30_000);

  it('a read is one GET; a write is the variant index, the other indexes, the registry scripts + SET, one GET', async () => {
    const entry = ref('counted', { userId: USER, tags: ['a', 'b'] });
    const generation = await store.generation();
    proxy.reset();
    expect(await store.write(entry, Buffer.from('v'), TTL_MS, generation)).toBe(true);
    // route-in-scope (variants, first: the cap), then route, user, 2 tags, path indexes; route and path registries; the entry; the generation.
    expect(proxy.names()).toEqual([...Array(6).fill('EVALSHA'), 'EVALSHA', 'EVALSHA', 'SET', 'GET']);
    proxy.reset();
    expect((await store.read(entry.digest))?.toString()).toBe('v');
    expect(proxy.names()).toEqual(['GET']);
  });
});
