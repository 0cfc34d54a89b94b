import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { ManualClock, type RedisConnection, type RedisModuleOptions } from 'nestjs-redis-shield';
import {
  type CacheEntryRef,
  compilePattern,
  INDEX_GRACE_MS,
  PRUNE_BATCH,
  ResponseCacheStore,
} from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

const PREFIX = 'app:';
const USER_A = 'alice-user-7f3e';
const USER_B = 'bob-user-91c2';
// Every byte value, 0x00 and 0xff included: entries are binary-safe.
const VALUE = Buffer.from([0x00, 0xff, 0x00, ...Array.from({ length: 256 }, (_, i) => i), 0xff]);
const TTL_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls an async condition every 10 ms until it holds, or fails after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A digest like the interceptor's: SHA-256, base64url, 43 chars. */
const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');

const MODELS_ONE = { id: 'ModelsController.one', template: '/api/v1/models/:id' };
const MODELS_LIST = { id: 'ModelsController.list', template: '/api/v1/models' };
const USAGE = { id: 'AnalyticsController.usage', template: '/api/v1/analytics/usage' };

function entry(label: string, over: Partial<CacheEntryRef> = {}): CacheEntryRef {
  return { digest: digestOf(label), route: MODELS_ONE, path: '/api/v1/models/gpt-4', tags: [], ...over };
}

describe.each<{ name: string; start: () => Promise<RedisServer | RedisCluster> }>([
  { name: 'standalone', start: () => startRedis() },
  { name: 'cluster', start: () => startRedisCluster() },
])('ResponseCacheStore on $name Redis', ({ start }) => {
  let redis: RedisServer | RedisCluster;
  let app: INestApplication;
  let connection: RedisConnection;
  let store: ResponseCacheStore;

  const target = (): RedisModuleOptions => ('seeds' in redis ? { clusterNodes: redis.seeds } : { url: redis.url });
  const masters = async (): Promise<RedisServer[]> => ('masters' in redis ? redis.masters() : [redis]);
  const allKeys = async () =>
    (await Promise.all((await masters()).map(async (node) => (await node.command('KEYS', '*')) as string[]))).flat();
  const stored = async (refs: CacheEntryRef[]) =>
    (await Promise.all(refs.map(async (ref) => ((await store.read(ref.digest)) ? 1 : 0)))).reduce<number>(
      (a, b) => a + b,
      0,
    );
  const writeAll = async (refs: CacheEntryRef[], ttlMs = TTL_MS) => {
    const generation = await store.generation();
    for (const ok of await Promise.all(refs.map((ref) => store.write(ref, VALUE, ttlMs, generation)))) {
      expect(ok).toBe(true);
    }
  };

  beforeAll(async () => {
    redis = await start();
    ({ app, connection } = await startRedisApp({
      ...target(),
      hashSecret: 'cache-store',
      keyPrefix: PREFIX,
      commandTimeoutMs: 2000,
    }));
    store = new ResponseCacheStore(connection);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  beforeEach(async () => {
    await Promise.all((await masters()).map((node) => node.command('FLUSHALL')));
  });

  it('round-trips binary bytes exactly, with a TTL on every key but the stats hash', async () => {
    const ref = entry('round-trip', { userId: USER_A, tags: ['models', 'list', 'models'] });
    expect(await store.read(ref.digest)).toBeNull();
    expect(await store.generation()).toBe('0');
    expect(await store.write(ref, VALUE, TTL_MS, '0')).toBe(true);
    expect((await store.read(ref.digest))!.equals(VALUE)).toBe(true);
    await store.addCounts(1, 1);
    await store.clearTags(['unused']); // creates the generation key

    const { client, keys } = connection;
    const entryTtl = await client.pttl(keys.cacheEntry(ref.digest));
    expect(entryTtl).toBeGreaterThan(TTL_MS - 5000);
    expect(entryTtl).toBeLessThanOrEqual(TTL_MS);
    const all = (await allKeys()).sort();
    expect(all).toEqual(
      [
        keys.cacheEntry(ref.digest),
        keys.cacheIndex('route', MODELS_ONE.id),
        keys.cacheIndex('variant', `${MODELS_ONE.id}\nuser:${USER_A}`),
        keys.cacheIndex('user', USER_A),
        keys.cacheIndex('tag', 'models'),
        keys.cacheIndex('tag', 'list'),
        keys.cacheIndex('path', ref.path),
        keys.cacheMeta('routes'),
        keys.cacheMeta('paths'),
        keys.cacheMeta('gen'),
        keys.cacheMeta('stats'),
      ].sort(),
    );
    for (const key of all.filter((key) => key !== keys.cacheEntry(ref.digest))) {
      const ttl = await client.pttl(key);
      if (key === keys.cacheMeta('stats')) expect(ttl).toBe(-1);
      else if (key === keys.cacheMeta('gen')) expect(ttl).toBeGreaterThan(29 * 24 * 3600 * 1000);
      // Indexes and registries outlive the entry they list.
      else expect(ttl).toBeGreaterThanOrEqual(entryTtl);
    }
  });

  it('refuses a bad TTL or digest before sending anything', async () => {
    await expect(store.write(entry('bad'), VALUE, 0, '0')).rejects.toThrow(RangeError);
    await expect(store.write(entry('bad'), VALUE, 1.5, '0')).rejects.toThrow(RangeError);
    await expect(store.write(entry('bad'), VALUE, 1.5, '0')).rejects.toMatchObject({
      code: 'SHIELD_E009',
      message: 'ttlMs must be a positive integer, got 1.5',
    });
    await expect(store.write({ ...entry('bad'), digest: '/api/v1/models' }, VALUE, TTL_MS, '0')).rejects.toThrow(
      /base64url/,
    );
    expect(await allKeys()).toEqual([]);
  });

  it('remove deletes one entry', async () => {
    const [kept, removed] = [entry('kept'), entry('removed')];
    await writeAll([kept, removed]);
    await store.remove(removed.digest);
    expect(await store.read(removed.digest)).toBeNull();
    expect(await store.read(kept.digest)).not.toBeNull();
  });

  it('clearUser deletes exactly that user’s entries and counts them', async () => {
    const alice = [1, 2, 3].map((i) => entry(`alice-${i}`, { userId: USER_A, path: `/api/v1/models/m${i}` }));
    const bob = [1, 2].map((i) => entry(`bob-${i}`, { userId: USER_B, path: `/api/v1/models/m${i}` }));
    const shared = [entry('shared')];
    await writeAll([...alice, ...bob, ...shared]);
    expect(await store.clearUser(USER_A)).toBe(3);
    expect(await stored(alice)).toBe(0);
    expect(await stored([...bob, ...shared])).toBe(3);
    expect(await store.clearUser(USER_A)).toBe(0);
    expect(await store.clearUser(USER_B)).toBe(2);
    expect(await stored(shared)).toBe(1);
  });

  it('clearRoutes deletes the entries of matching route templates only', async () => {
    const one = [1, 2, 3].map((i) => entry(`one-${i}`, { path: `/api/v1/models/m${i}` }));
    const list = [entry('list', { route: MODELS_LIST, path: '/api/v1/models' })];
    const usage = [USER_A, USER_B].map((userId) => entry(`usage-${userId}`, { route: USAGE, userId }));
    await writeAll([...one, ...list, ...usage]);
    // Anchored with *: '/api/v1/models' itself does not match '/api/v1/models/*'.
    expect(await store.clearRoutes(compilePattern('/api/v1/models/*'))).toBe(3);
    expect(await stored(one)).toBe(0);
    expect(await stored([...list, ...usage])).toBe(3);
    expect(await store.clearRoutes(compilePattern('models'))).toBe(1);
    expect(await stored(usage)).toBe(2);
    // Variants are counted per scope: each user has one entry on the usage route.
    expect(await store.liveVariants(USAGE.id, USER_A)).toBe(1);
    expect(await store.liveVariants(USAGE.id, USER_B)).toBe(1);
    expect(await store.liveVariants(MODELS_ONE.id, undefined)).toBe(0);
  });

  it('clearPaths deletes the entries of matching concrete paths only', async () => {
    const gpt = [entry('gpt-plain'), entry('gpt-user', { userId: USER_A })];
    const claude = [entry('claude', { path: '/api/v1/models/claude' })];
    const list = [entry('list', { route: MODELS_LIST, path: '/api/v1/models' })];
    await writeAll([...gpt, ...claude, ...list]);
    expect(await store.clearPaths(compilePattern('gpt-4'))).toBe(2);
    expect(await stored(gpt)).toBe(0);
    expect(await stored([...claude, ...list])).toBe(2);
    expect(await store.clearPaths(compilePattern('/api/v1/models/*'))).toBe(1);
    expect(await stored(list)).toBe(1);
  });

  it('clearTags deletes entries carrying any of the tags', async () => {
    const tagged = [
      entry('t1', { tags: ['models'] }),
      entry('t2', { tags: ['models', 'hot'] }),
      entry('t3', { tags: ['hot'] }),
    ];
    const others = [entry('t4', { tags: ['other'] }), entry('t5')];
    await writeAll([...tagged, ...others]);
    expect(await store.clearTags(['hot', 'models', 'hot'])).toBe(3);
    expect(await stored(tagged)).toBe(0);
    expect(await stored(others)).toBe(2);
  });

  it('clearAll deletes every entry of the cache and nothing else', async () => {
    const refs = [
      ...[1, 2, 3].map((i) => entry(`all-${i}`, { path: `/api/v1/models/m${i}`, tags: ['models'] })),
      entry('all-list', { route: MODELS_LIST, path: '/api/v1/models' }),
      ...[USER_A, USER_B].map((userId) =>
        entry(`all-${userId}`, { route: USAGE, userId, path: '/api/v1/analytics/usage' }),
      ),
    ];
    await writeAll(refs);
    const { client, keys } = connection;
    const rateLimitKey = keys.rateLimit('ip:203.0.113.7', 'default');
    await client.set(rateLimitKey, '1', 'PX', 60_000);
    await client.set('other:thing', 'foreign');
    await client.set(`${PREFIX}user-data`, 'kept');

    expect(await store.clearAll()).toBe(refs.length);
    expect(await stored(refs)).toBe(0);
    expect(await client.get(rateLimitKey)).toBe('1');
    expect(await client.get('other:thing')).toBe('foreign');
    expect(await client.get(`${PREFIX}user-data`)).toBe('kept');
    const left = (await allKeys()).filter((key) => key.startsWith(`${PREFIX}cache:`));
    // Only the generation and the user, tag and per-user variant indexes (not listable without a SCAN) are left.
    expect(left.filter((key) => !/cache:(meta:gen|index:(user|tag|variant):)/.test(key))).toEqual([]);
    expect(await store.clearAll()).toBe(0);
    expect((await store.stats()).entries).toBe(0);
  });

  it('liveVariants counts live entries of a route and prunes expired ones', async () => {
    const short = [1, 2, 3].map((i) => entry(`short-${i}`, { path: `/api/v1/models/s${i}` }));
    const long = [1, 2].map((i) => entry(`long-${i}`, { path: `/api/v1/models/l${i}` }));
    await writeAll(short, 50);
    await writeAll(long);
    expect(await store.liveVariants(MODELS_ONE.id, undefined)).toBe(5);
    expect(await store.liveVariants(USAGE.id, undefined)).toBe(0);
    // Index members outlive their entry by the grace (the entry is stored after it is indexed).
    await sleep(50 + INDEX_GRACE_MS + 100);
    expect(await stored(short)).toBe(0);
    expect(await store.liveVariants(MODELS_ONE.id, undefined)).toBe(2);
    const variants = connection.keys.cacheIndex('variant', `${MODELS_ONE.id}\nshared`);
    expect(await connection.client.zcard(variants)).toBe(2);
  });

  it('a count or a write prunes at most PRUNE_BATCH expired members per call; counts see only live ones', async () => {
    // An index nobody wrote to while a whole TTL's worth of entries expired.
    await writeAll([entry('live-1', { path: '/p/1' }), entry('live-2', { path: '/p/2' })]);
    const variants = connection.keys.cacheIndex('variant', `${MODELS_ONE.id}\nshared`);
    const past = Date.now() - 60_000;
    const expired = Array.from({ length: 250 }, (_, i) => [past + i, digestOf(`expired-${i}`)]).flat();
    await connection.client.zadd(variants, ...expired);
    expect(await store.liveVariants(MODELS_ONE.id, undefined)).toBe(2);
    expect(await connection.client.zcard(variants)).toBe(2 + 250 - PRUNE_BATCH);
    expect(await store.liveVariants(MODELS_ONE.id, undefined)).toBe(2);
    expect(await store.liveVariants(MODELS_ONE.id, undefined)).toBe(2);
    expect(await connection.client.zcard(variants)).toBe(2);
    // A write prunes the same way (on the request path, so just as bounded).
    await connection.client.zadd(variants, ...expired);
    await writeAll([entry('live-3', { path: '/p/3' })]);
    expect(await connection.client.zcard(variants)).toBe(3 + 250 - PRUNE_BATCH);
  });

  it("liveVariants counts per scope: one user's variants never fill another's or the shared count", async () => {
    const mine = [1, 2, 3].map((i) => entry(`mine-${i}`, { route: USAGE, userId: USER_A, path: `/u/${i}` }));
    const shared = [entry('shared-1', { route: USAGE, path: '/u/1' })];
    await writeAll([...mine, ...shared]);
    expect(await store.liveVariants(USAGE.id, USER_A)).toBe(3);
    expect(await store.liveVariants(USAGE.id, USER_B)).toBe(0);
    expect(await store.liveVariants(USAGE.id, undefined)).toBe(1);
    // Clearing the route restarts the shared count (a user's count expires with its entries).
    expect(await store.clearRoutes(compilePattern('/api/v1/analytics/usage'))).toBe(4);
    expect(await store.liveVariants(USAGE.id, undefined)).toBe(0);
  });

  it('with an application clock, index expiry follows that clock', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const { app: clocked, connection: own } = await startRedisApp({
      ...target(),
      hashSecret: 'cache-store',
      keyPrefix: 'clocked:',
      clock,
    });
    try {
      const clockedStore = new ResponseCacheStore(own);
      const ref = entry('clocked');
      expect(await clockedStore.write(ref, VALUE, TTL_MS, await clockedStore.generation())).toBe(true);
      expect(await own.client.zscore(own.keys.cacheIndex('route', ref.route.id), ref.digest)).toBe(
        String(clock.now() + TTL_MS + INDEX_GRACE_MS),
      );
      expect(await clockedStore.liveVariants(MODELS_ONE.id, undefined)).toBe(1);
      clock.advance(TTL_MS + INDEX_GRACE_MS + 1);
      expect(await clockedStore.liveVariants(MODELS_ONE.id, undefined)).toBe(0);
      // The entry itself expires by Redis's own clock (a relative PX), whatever the app's clock says.
      expect(await own.client.pttl(own.keys.cacheEntry(ref.digest))).toBeGreaterThan(TTL_MS - 5000);
    } finally {
      await clocked.close();
    }
  });

  it('no key, index member or stats field contains a user id or a path', async () => {
    const secrets = [USER_A, 'secret-segment', 'gpt-4', '/api/', 'models'];
    await writeAll([
      entry('private-1', { userId: USER_A, path: '/api/v1/secret-segment/gpt-4', tags: ['models'] }),
      entry('private-2', { userId: USER_A, path: '/api/v1/secret-segment/other' }),
      entry('public', { tags: ['models'] }),
    ]);
    await store.addCounts(2, 3);
    const { client, keys } = connection;
    const all = await allKeys();
    expect(all.length).toBeGreaterThanOrEqual(10);
    const names: string[] = [...all];
    for (const key of all) {
      const type = await client.type(key);
      if (type === 'zset') names.push(...(await client.zrange(key, '0', '-1')));
      if (type === 'hash') names.push(...(await client.hkeys(key)));
    }
    for (const secret of secrets) expect(names.filter((name) => name.includes(secret))).toEqual([]);
    // The registries' values hold paths and templates on purpose: patterns match them.
    expect(Object.values(await client.hgetall(keys.cacheMeta('paths'))).join()).toContain('secret-segment');
  });

  it('addCounts and stats: counters, entries, memory and a TTL sample', async () => {
    const empty = await store.stats();
    expect(empty).toMatchObject({ hits: 0, misses: 0, entries: 0, ttlSeconds: null });
    expect(empty.memoryUsedBytes).toBeGreaterThan(100_000);
    await store.addCounts(3, 2);
    await store.addCounts(1, 0);
    await store.addCounts(0, 0);
    await expect(store.addCounts(-1, 0)).rejects.toThrow(RangeError);
    await expect(store.addCounts(0, 0.5)).rejects.toMatchObject({ code: 'SHIELD_E009' });
    for (const [i, ttlMs] of [10_000, 20_000, 30_000, 40_000, 50_000].entries()) {
      await writeAll([entry(`stats-${i}`, { route: i % 2 ? MODELS_ONE : USAGE, path: `/p${i}` })], ttlMs);
    }
    const stats = await store.stats();
    expect(stats).toMatchObject({ hits: 4, misses: 2, entries: 5 });
    expect(stats.ttlSeconds).toEqual({ min: 10, median: 30, max: 50 });
    expect(await connection.client.pttl(connection.keys.cacheMeta('stats'))).toBe(-1);
  });

  // The lookup script: one round trip that reads an entry and, when it is missing, takes
  // the lease on computing it (the cache's cross-instance single-flight).
  describe('the lookup and its lease', () => {
    const lease = (token: string, ms = 5000) => ({ token, ms });
    const leaseKeys = async () => (await allKeys()).filter((key) => key.includes('cache:lease:'));

    it('a missing entry: the first lookup takes the lease, the next ones find it held; only its holder releases it', async () => {
      const digest = digestOf('missing');
      expect(await store.lookup(digest, lease('a'))).toEqual({ entry: null, lease: 'taken' });
      expect(await store.lookup(digest, lease('b'))).toEqual({ entry: null, lease: 'held' });
      expect(await store.lookup(digest, undefined)).toEqual({ entry: null, lease: 'none' });
      await store.releaseLease(digest, 'b'); // not b's: stays
      expect(await store.lookup(digest, lease('c'))).toEqual({ entry: null, lease: 'held' });
      await store.releaseLease(digest, 'a');
      expect(await store.lookup(digest, lease('c'))).toEqual({ entry: null, lease: 'taken' });
    });

    it('the lease lasts what the caller asked, and a dead leader holds it no longer', async () => {
      const digest = digestOf('expiring');
      expect((await store.lookup(digest, lease('a', 300))).lease).toBe('taken');
      const [key] = await leaseKeys();
      const [node] = await masters();
      const owner = 'masters' in redis ? await ownerOf(key) : node;
      const ttl = Number(await owner.command('PTTL', key));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
      await until(async () => (await store.lookup(digest, lease('b'))).lease === 'taken', 2000, 'the lease to expire');
    });

    it('a stored entry is returned as bytes, in one script call, with no lease taken', async () => {
      const digest = digestOf('stored');
      const value = Buffer.from([0x00, 0xff, 0x10, 0x80]);
      const generation = await store.generation();
      const ref = { digest, route: { id: 'R.one', template: '/r' }, path: '/r', tags: [] };
      expect(await store.write(ref, value, 60_000, generation)).toBe(true);
      const reply = await store.lookup(digest, lease('a'));
      expect(reply.lease).toBe('none');
      expect(reply.entry?.equals(value)).toBe(true);
      expect(await leaseKeys()).toEqual([]);
    });

    it('the entry and its lease share a slot (one script on a Cluster)', () => {
      const digest = digestOf('slot');
      const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
      expect(tag(connection.keys.cacheEntry(digest))).toBe(digest);
      expect(tag(connection.keys.cacheLease(digest))).toBe(digest);
    });

    it('a lookup that timed out while Redis stalled gives back the lease Redis took for it once the stall ends', async () => {
      const digest = digestOf('stalled');
      const stalled = 'masters' in redis ? await ownerOf(connection.keys.cacheLease(digest)) : (redis as RedisServer);
      await stalled.stall();
      try {
        await expect(
          store.lookup(digest, lease('gone', 60_000), { timeoutMs: 100, tripsBreaker: false }),
        ).rejects.toThrow(/timeout|timed out/i);
      } finally {
        await stalled.resume();
      }
      // Redis ran the script once resumed: without the give-back, the lease would hold every
      // other instance's miss for a minute.
      await until(async () => (await leaseKeys()).length === 0, 2000, 'the orphan lease to be released');
      expect((await store.lookup(digest, lease('next'))).lease).toBe('taken');
    });

    /** The master of a Cluster that holds `key`. */
    async function ownerOf(key: string): Promise<RedisServer> {
      const nodes = await masters();
      for (const node of nodes) {
        const slot = Number(await node.command('CLUSTER', 'KEYSLOT', key));
        const ranges = (await node.command('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        const owner = nodes.find((candidate) => range && candidate.port === Number(range[2][1]));
        if (owner) return owner;
      }
      throw new Error(`no master owns ${key}`);
    }
  });
});
