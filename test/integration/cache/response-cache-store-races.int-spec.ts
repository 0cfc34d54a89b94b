import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { type RedisConnection, type RedisModuleOptions, type RunOptions } from 'nestjs-redis-shield';
import {
  type CacheEntryRef,
  compilePattern,
  ResponseCacheStore,
} from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

// The generation argument of ResponseCacheStore, checked step by step: each interleaving below
// is forced with pauses, and each fails if one step of the protocol is dropped or reordered
// (second bump, first bump, the write's generation check, registering after indexing).

const PREFIX = 'app:';
const USER_A = 'alice-user-7f3e';
const USER_B = 'bob-user-91c2';
const VALUE = Buffer.from('a response');
const TTL_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A digest like the interceptor's: SHA-256, base64url, 43 chars. */
const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');

const MODELS_ONE = { id: 'ModelsController.one', template: '/api/v1/models/:id' };
const MODELS_LIST = { id: 'ModelsController.list', template: '/api/v1/models' };
const USAGE = { id: 'AnalyticsController.usage', template: '/api/v1/analytics/usage' };

function entry(label: string, over: Partial<CacheEntryRef> = {}): CacheEntryRef {
  return { digest: digestOf(label), route: MODELS_ONE, path: '/api/v1/models/gpt-4', tags: [], ...over };
}

/** A promise with its resolver, to pause one side of a race at a chosen step. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * The same connection with pauses injected: before every SET, and before and after each
 * call of a named script. Lets a test force one exact interleaving of a write and an
 * invalidation (or fail a call: a `beforeScript` that throws stands for a failed command).
 */
function paused(
  connection: RedisConnection,
  hooks: {
    beforeSet?: () => Promise<void>;
    beforeScript?: (name: string) => Promise<void>;
    afterScript?: (name: string) => Promise<void>;
  },
): RedisConnection {
  const wrapped = Object.create(connection) as RedisConnection;
  wrapped.run = (operation, options) =>
    connection.run((client) => {
      const gated = new Proxy(client, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property);
          if (typeof value !== 'function') return value;
          const method = (value as (...args: unknown[]) => unknown).bind(target);
          if (property !== 'set' || !hooks.beforeSet) return method;
          return async (...args: unknown[]) => {
            await hooks.beforeSet!();
            return method(...args);
          };
        },
      });
      return operation(gated);
    }, options);
  wrapped.defineScript = <T>(name: string, lua: string) => {
    const runner = connection.defineScript<T>(name, lua);
    return async (keys: string[], args: (string | number)[], options?: RunOptions) => {
      await hooks.beforeScript?.(name);
      const result = await runner(keys, args, options);
      await hooks.afterScript?.(name);
      return result;
    };
  };
  return wrapped;
}

describe.each<{ name: string; start: () => Promise<RedisServer | RedisCluster> }>([
  { name: 'standalone', start: () => startRedis() },
  { name: 'cluster', start: () => startRedisCluster() },
])('ResponseCacheStore racing invalidations on $name Redis', ({ start }) => {
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

  it('a write that began before an invalidation stores nothing', async () => {
    const generation = await store.generation();
    await store.clearTags(['anything']);
    const ref = entry('stale', { userId: USER_A });
    expect(await store.write(ref, VALUE, TTL_MS, generation)).toBe(false);
    expect(await store.read(ref.digest)).toBeNull();
    const fresh = await store.generation();
    expect(fresh).not.toBe(generation);
    expect(await store.write(ref, VALUE, TTL_MS, fresh)).toBe(true);
  });

  it('a miss that stores during an invalidation, after its deletes, deletes its own entry', async () => {
    // Invalidation C: bump, [paused], take the index, bump, delete. Write W: index, [paused], store, check.
    const afterFirstBump = gate();
    const resumeClear = gate();
    let bumps = 0;
    const clearer = new ResponseCacheStore(
      paused(connection, {
        afterScript: async (name) => {
          if (name !== 'cache_generation_bump' || ++bumps > 1) return;
          afterFirstBump.open();
          await resumeClear.promise;
        },
      }),
    );
    const beforeSet = gate();
    const resumeWrite = gate();
    const writer = new ResponseCacheStore(
      paused(connection, {
        beforeSet: async () => {
          beforeSet.open();
          await resumeWrite.promise;
        },
      }),
    );
    const ref = entry('interleaved', { userId: USER_A });
    const clearing = clearer.clearUser(USER_A);
    await afterFirstBump.promise;
    // W began after C's first bump, so only C's second bump can tell it apart.
    const writing = writer.write(ref, VALUE, TTL_MS, await writer.generation());
    await beforeSet.promise; // W is in the user index, its entry not stored yet
    resumeClear.open();
    expect(await clearing).toBe(0); // C took W's membership; the entry did not exist yet
    resumeWrite.open(); // W stores after C's deletes...
    expect(await writing).toBe(false); // ...sees C's second bump and deletes its entry
    expect(await store.read(ref.digest)).toBeNull();
  });

  it('a miss paused before storing while a whole invalidation runs deletes its entry afterwards', async () => {
    const beforeSet = gate();
    const resumeWrite = gate();
    const writer = new ResponseCacheStore(
      paused(connection, {
        beforeSet: async () => {
          beforeSet.open();
          await resumeWrite.promise;
        },
      }),
    );
    const ref = entry('paused-miss', { userId: USER_A, tags: ['t'] });
    const writing = writer.write(ref, VALUE, TTL_MS, await store.generation());
    await beforeSet.promise; // indexed and registered, not stored
    expect(await store.clearTags(['t'])).toBe(0);
    resumeWrite.open();
    expect(await writing).toBe(false);
    expect(await store.read(ref.digest)).toBeNull();
  });

  it('a miss that began before an invalidation and indexes after it took the indexes stores nothing', async () => {
    const afterTake = gate();
    const resumeClear = gate();
    const clearer = new ResponseCacheStore(
      paused(connection, {
        afterScript: async (name) => {
          if (name !== 'cache_index_take') return;
          afterTake.open();
          await resumeClear.promise;
        },
      }),
    );
    const ref = entry('late-index', { userId: USER_A });
    const generation = await store.generation(); // W's miss begins
    const clearing = clearer.clearUser(USER_A);
    await afterTake.promise; // C bumped and took the (empty) user index
    expect(await store.write(ref, VALUE, TTL_MS, generation)).toBe(false); // only C's first bump can tell
    resumeClear.open();
    expect(await clearing).toBe(0);
    expect(await store.read(ref.digest)).toBeNull();
  });

  it('a registration an invalidation removes belongs to an index membership it takes', async () => {
    // C: bump, [pause 1], read and unregister routes, take their indexes, [pause 2], bump, delete.
    // W begins after C's first bump and registers before C unregisters.
    const [clearBumped, resumeClear, clearTook, finishClear] = [gate(), gate(), gate(), gate()];
    let bumps = 0;
    const clearer = new ResponseCacheStore(
      paused(connection, {
        afterScript: async (name) => {
          if (name === 'cache_generation_bump' && ++bumps === 1) {
            clearBumped.open();
            await resumeClear.promise;
          } else if (name === 'cache_index_take') {
            clearTook.open();
            await finishClear.promise;
          }
        },
      }),
    );
    const [registered, resumeWrite] = [gate(), gate()];
    let registrations = 0;
    const writer = new ResponseCacheStore(
      paused(connection, {
        afterScript: async (name) => {
          if (name !== 'cache_registry_add' || ++registrations > 1) return;
          registered.open();
          await resumeWrite.promise;
        },
      }),
    );
    const ref = entry('registered', { route: MODELS_LIST, path: '/api/v1/models' });
    const clearing = clearer.clearRoutes(() => true);
    await clearBumped.promise;
    const writing = writer.write(ref, VALUE, TTL_MS, await writer.generation());
    await registered.promise;
    resumeClear.open();
    await clearTook.promise;
    resumeWrite.open();
    await writing;
    finishClear.open();
    await clearing;
    // Whatever each side decided, the entry is gone or still reachable through the registry.
    await store.clearRoutes(() => true);
    expect(await store.read(ref.digest)).toBeNull();
  });

  it('a registry field the scan saw expired but a registration renewed stays listed', async () => {
    // C reads the paths registry, sees X's field expired, [paused before removing it];
    // W stores an entry on X meanwhile (renewing the field); C resumes.
    const { client, keys } = connection;
    const path = '/api/v1/models/renewed';
    await client.hset(keys.cacheMeta('paths'), keys.cacheHash('path', path), `${Date.now() - 60_000}|${path}`);
    const [pruning, resumeClear] = [gate(), gate()];
    const clearer = new ResponseCacheStore(
      paused(connection, {
        beforeScript: async (name) => {
          if (name !== 'cache_registry_prune') return;
          pruning.open();
          await resumeClear.promise;
        },
      }),
    );
    const clearing = clearer.clearPaths(compilePattern('/elsewhere'));
    await pruning.promise;
    const ref = entry('renewed', { path });
    expect(await store.write(ref, VALUE, TTL_MS, await store.generation())).toBe(true);
    resumeClear.open();
    expect(await clearing).toBe(0);
    // The field was re-read before removal and kept: the entry is still reachable by its path.
    expect(await client.hget(keys.cacheMeta('paths'), keys.cacheHash('path', path))).not.toBeNull();
    expect(await store.clearPaths(compilePattern('renewed'))).toBe(1);
    expect(await store.read(ref.digest)).toBeNull();
  });

  it('entries indexed between two steps of a take are deleted or stay indexed, never stale', async () => {
    // C takes a user index of 600 members: bump, step 1 (500 members), [paused], step 2, bump, delete.
    // During the pause, S (a miss that began before C) and F (one that began after C's first
    // bump) both index and store an entry of the same user.
    const mine = Array.from({ length: 600 }, (_, i) => entry(`step-${i}`, { userId: USER_A, path: `/s/${i % 9}` }));
    const generation = await store.generation();
    for (let start = 0; start < mine.length; start += 100) {
      const slice = mine.slice(start, start + 100);
      expect(await Promise.all(slice.map((ref) => store.write(ref, VALUE, TTL_MS, generation)))).not.toContain(false);
    }
    const staleGeneration = await store.generation(); // S's miss begins
    const [betweenSteps, resumeClear] = [gate(), gate()];
    let steps = 0;
    const clearer = new ResponseCacheStore(
      paused(connection, {
        afterScript: async (name) => {
          if (name !== 'cache_index_take' || ++steps > 1) return;
          betweenSteps.open();
          await resumeClear.promise;
        },
      }),
    );
    const clearing = clearer.clearUser(USER_A);
    await betweenSteps.promise;
    const [stale, fresh] = [entry('step-stale', { userId: USER_A }), entry('step-fresh', { userId: USER_A })];
    expect(await store.write(stale, VALUE, TTL_MS, staleGeneration)).toBe(false); // sees C's first bump
    expect(await store.write(fresh, VALUE, TTL_MS, await store.generation())).toBe(true);
    resumeClear.open();
    // Step 2 popped the last 100 and F's member (S's was popped too, its entry already gone).
    expect(await clearing).toBe(601);
    expect(await stored([...mine, stale, fresh])).toBe(0);
    expect(await connection.client.exists(connection.keys.cacheIndex('user', USER_A))).toBe(0);
  });

  it('an invalidation that fails part way still deletes the entries it already took', async () => {
    const mine = Array.from({ length: 1200 }, (_, i) => entry(`fail-${i}`, { userId: USER_A, path: `/f/${i % 9}` }));
    const generation = await store.generation();
    for (let start = 0; start < mine.length; start += 100) {
      const slice = mine.slice(start, start + 100);
      expect(await Promise.all(slice.map((ref) => store.write(ref, VALUE, TTL_MS, generation)))).not.toContain(false);
    }
    let steps = 0;
    const failing = new ResponseCacheStore(
      paused(connection, {
        beforeScript: async (name) => {
          if (name === 'cache_index_take' && ++steps === 2) throw new Error('injected: Redis failed the second step');
        },
      }),
    );
    await expect(failing.clearUser(USER_A)).rejects.toThrow('injected');
    // The first step popped 500 members: their entries are deleted, not left unindexed.
    expect(await stored(mine)).toBe(700);
    expect(await store.clearUser(USER_A)).toBe(700);
    expect(await stored(mine)).toBe(0);
  });

  it('misses racing an invalidation never leave their result behind', async () => {
    const clears = [
      () => store.clearAll(),
      () => store.clearUser(USER_A),
      () => store.clearRoutes(compilePattern('/api/v1/models/*')),
      () => store.clearPaths(compilePattern('race')),
      () => store.clearTags(['race']),
    ];
    for (const [round, clear] of clears.entries()) {
      const generation = await store.generation();
      const refs = Array.from({ length: 60 }, (_, i) =>
        entry(`race-${round}-${i % 40}`, { userId: USER_A, tags: ['race'], path: `/api/v1/models/race-${i % 7}` }),
      );
      await Promise.all([
        ...refs.map((ref, i) => sleep(i % 8).then(() => store.write(ref, VALUE, TTL_MS, generation))),
        sleep(3).then(clear),
      ]);
      expect(await stored(refs)).toBe(0);
    }
  });

  it('entries stored while invalidations run stay listed in every index and registry', async () => {
    const refs = new Map<string, CacheEntryRef>();
    let clearing = true;
    const writer = async (w: number) => {
      // Keeps writing until the clears are over, then a few more (those must be stored).
      for (let i = 0; clearing || i % 10 !== 0; i++) {
        const k = i % 12; // a digest always stands for the same request
        const ref = entry(`busy-${w}-${k}`, {
          route: k % 2 ? MODELS_ONE : USAGE,
          path: `/api/v1/models/busy-${k % 5}`,
          userId: [USER_A, USER_B, undefined][k % 3],
          tags: [`t${k % 2}`],
        });
        refs.set(ref.digest, ref);
        await store.write(ref, VALUE, TTL_MS, await store.generation());
      }
    };
    const clearer = async () => {
      const clears = [
        () => store.clearRoutes(compilePattern('/api/v1/models/*')),
        () => store.clearPaths(compilePattern('busy-1')),
        () => store.clearUser(USER_B),
        () => store.clearTags(['t0']),
        () => store.clearAll(),
      ];
      for (let i = 0; i < 25; i++) await clears[i % clears.length]();
      clearing = false;
    };
    await Promise.all([...[0, 1, 2, 3, 4, 5].map(writer), clearer()]);

    const { client, keys } = connection;
    let checked = 0;
    for (const ref of refs.values()) {
      if (!(await store.read(ref.digest))) continue;
      checked++;
      const indexes = [
        keys.cacheIndex('route', ref.route.id),
        keys.cacheIndex('path', ref.path),
        ...ref.tags.map((tag) => keys.cacheIndex('tag', tag)),
        ...(ref.userId === undefined ? [] : [keys.cacheIndex('user', ref.userId)]),
      ];
      for (const index of indexes) expect(await client.zscore(index, ref.digest)).not.toBeNull();
      expect(await client.hget(keys.cacheMeta('routes'), keys.cacheHash('route', ref.route.id))).not.toBeNull();
      expect(await client.hget(keys.cacheMeta('paths'), keys.cacheHash('path', ref.path))).not.toBeNull();
    }
    expect(checked).toBeGreaterThan(0);
    // So the next clearAll finds every one of them.
    expect(await store.clearAll()).toBe(checked);
    expect((await allKeys()).filter((key) => key.includes('cache:response:'))).toEqual([]);
  }, 30_000);
});
