import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { RedisConnection, RedisModuleOptions } from 'nestjs-redis-shield';
import { ResponseCacheStore } from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

// The lookup script of the response cache: one round trip that reads an entry and, when
// it is missing, takes the lease on computing it (cross-instance single-flight).

const PREFIX = 'app:';
const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');
const lease = (token: string, ms = 5000) => ({ token, ms });

/** Polls an async condition every 10 ms until it holds, or fails after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each<{ name: string; start: () => Promise<RedisServer | RedisCluster> }>([
  { name: 'standalone', start: () => startRedis() },
  { name: 'cluster', start: () => startRedisCluster() },
])('the cache lookup and its lease on $name Redis', ({ start }) => {
  let redis: RedisServer | RedisCluster;
  let app: INestApplication;
  let connection: RedisConnection;
  let store: ResponseCacheStore;

  const target = (): RedisModuleOptions => ('seeds' in redis ? { clusterNodes: redis.seeds } : { url: redis.url });
  const masters = async (): Promise<RedisServer[]> => ('masters' in redis ? redis.masters() : [redis]);
  const leaseKeys = async () =>
    (
      await Promise.all(
        (await masters()).map(async (node) => (await node.command('KEYS', '*cache:lease:*')) as string[]),
      )
    ).flat();

  beforeAll(async () => {
    redis = await start();
    ({ app, connection } = await startRedisApp({
      ...target(),
      hashSecret: 'cache-lease',
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
