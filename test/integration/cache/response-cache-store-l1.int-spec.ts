import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { RedisConnection } from 'nestjs-redis-shield';
import {
  type CacheEntryRef,
  type CacheInvalidation,
  compilePattern,
  ResponseCacheStore,
} from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { type RedisServer, startRedis } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

// The L1's one source of invalidations: the store tells its listener about every
// invalidation form, once Redis no longer holds what it covered, and also when it fails
// part way (it may have deleted some entries already).

const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');
const ROUTE = { id: 'ModelsController.one', template: '/api/v1/models/:id' };
const ref = (label: string, over: Partial<CacheEntryRef> = {}): CacheEntryRef => ({
  digest: digestOf(label),
  route: ROUTE,
  path: '/api/v1/models/gpt-4',
  tags: ['models'],
  ...over,
});

describe('ResponseCacheStore invalidation listener', () => {
  let redis: RedisServer;
  let app: INestApplication;
  let connection: RedisConnection;
  let store: ResponseCacheStore;
  /** What the listener heard, with whether the entry was still in Redis at that moment. */
  let heard: { what: CacheInvalidation; entryStillStored: boolean }[];
  const watched = ref('watched', { userId: 'alice' });

  beforeAll(async () => {
    redis = await startRedis();
    ({ app, connection } = await startRedisApp({ url: redis.url, hashSecret: 'cache-l1', commandTimeoutMs: 2000 }));
    store = new ResponseCacheStore(connection, async (what) => {
      heard.push({ what, entryStillStored: (await store.read(watched.digest)) !== null });
    });
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  beforeEach(async () => {
    await redis.command('FLUSHALL');
    heard = [];
    expect(await store.write(watched, Buffer.from('v'), 60_000, await store.generation())).toBe(true);
  });

  it.each<[string, () => Promise<unknown>, CacheInvalidation]>([
    ['clearRoutes', () => store.clearRoutes(compilePattern('/api/v1/models/:id')), { scope: 'all' }],
    ['clearPaths', () => store.clearPaths(compilePattern('/api/v1/models/gpt-4')), { scope: 'all' }],
    ['clearAll', () => store.clearAll(), { scope: 'all' }],
    ['clearTags (one)', () => store.clearTags(['models']), { scope: 'tag', value: expect.any(String) as string }],
    ['clearTags (several)', () => store.clearTags(['models', 'other']), { scope: 'all' }],
    ['clearUser', () => store.clearUser('alice'), { scope: 'user', value: expect.any(String) as string }],
    ['remove', () => store.remove(watched.digest), { scope: 'key', value: watched.digest }],
  ])('%s: heard once, after Redis deleted the entry', async (_name, invalidate, expected) => {
    await invalidate();
    expect(heard).toEqual([{ what: expected, entryStillStored: false }]);
  });

  it('hashes user ids and tags: the raw value is never published', async () => {
    await store.clearUser('alice');
    await store.clearTags(['models']);
    const values = heard.map(({ what }) => ('value' in what ? what.value : ''));
    expect(values).toEqual([connection.keys.hashId('alice'), connection.keys.hashId('models')]);
    expect(values.join()).not.toMatch(/alice|models/);
  });

  it('is told when an invalidation fails part way', async () => {
    const failing = new ResponseCacheStore(connection, (what) => {
      heard.push({ what, entryStillStored: false });
    });
    await expect(
      failing.clearRoutes(() => {
        throw new Error('matcher failed');
      }),
    ).rejects.toThrow('matcher failed');
    expect(heard.map(({ what }) => what)).toEqual([{ scope: 'all' }]);
  });

  it('is not told when an invalidation fails before deleting anything (its first step)', async () => {
    // The generation bump (INCR) fails on a value that is not an integer: nothing was deleted,
    // so no in-process copy is older than Redis, and nothing is published (during an outage
    // that publish would only fail and log a second line for the one outage).
    await redis.command('SET', connection.keys.cacheMeta('gen'), 'not-a-number');
    await expect(store.clearAll()).rejects.toThrow();
    await expect(store.clearUser('alice')).rejects.toThrow();
    expect(heard).toEqual([]);
    expect(await store.read(watched.digest)).not.toBeNull();
  });
});
