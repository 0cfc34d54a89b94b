import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { type RedisConnection, type RedisModuleOptions, type RunOptions } from 'nestjs-redis-shield';
import { GENERATION_BUMP_LUA } from '../../../libs/nestjs-redis-shield/src/cache/store/lua/generation-bump.lua.js';
import { INDEX_TAKE_LUA } from '../../../libs/nestjs-redis-shield/src/cache/store/lua/index-take.lua.js';
import { REGISTRY_PRUNE_LUA } from '../../../libs/nestjs-redis-shield/src/cache/store/lua/registry-prune.lua.js';
import {
  ADMIN_BATCH,
  type CacheEntryRef,
  compilePattern,
  INDEX_GRACE_MS,
  ResponseCacheStore,
} from '../../../libs/nestjs-redis-shield/src/cache/store/response-cache.store.js';
import {
  type RecordedCommand,
  type RedisCluster,
  type RedisServer,
  type RespProxy,
  startRedis,
  startRedisCluster,
  startRespProxy,
} from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

// "Path spellings fill Redis past every cap": an attacker can make one route store thousands
// of distinct paths, and the path registry grows with them. Admin invalidations must still
// work in bounded steps: no single script or command does work proportional to the
// registry or to an index, so Redis keeps serving other clients between the steps.

const PATHS = 10_000; // one entry per path, all on one route
const EXPIRED_FIELDS = 1200; // path registry fields whose entries all expired
const EXPIRED_MEMBERS = 700; // members of the route index whose entries expired
const TTL_MS = 600_000;
const ROUTE = { id: 'Many.one', template: '/many/:id' };
/** `/many/p1*`: p1, p10–p19, p100–p199, p1000–p1999. */
const CLEARED_BY_PATTERN = 1 + 10 + 100 + 1000;

const digestOf = (label: string) => createHash('sha256').update(label).digest('base64url');
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
/** The scripts an invalidation runs, by the SHA-1 EVALSHA names them with. */
const SCRIPTS = new Map([
  [sha1(GENERATION_BUMP_LUA), 'bump'],
  [sha1(INDEX_TAKE_LUA), 'take'],
  [sha1(REGISTRY_PRUNE_LUA), 'prune'],
]);
/**
 * Commands whose work is bounded by their arguments (at most ADMIN_BATCH fields or
 * members, or O(1)), counted by Redis whether a client or a script called them. HGETALL,
 * HKEYS, ZRANGEBYSCORE without LIMIT and the like are not in it.
 */
const BOUNDED = [
  'evalsha',
  'hscan',
  'hget',
  'hdel',
  'zpopmin',
  'zcard',
  'unlink',
  'incr',
  'set',
  'pexpire',
  'time',
  'ping',
  'info',
];

/** The same connection, recording every script reply (to check how many members a take step returned). */
function recording(connection: RedisConnection, replies: { name: string; reply: unknown }[]): RedisConnection {
  const wrapped = Object.create(connection) as RedisConnection;
  wrapped.defineScript = <T>(name: string, lua: string) => {
    const run = connection.defineScript<T>(name, lua);
    return async (keys: string[], args: (string | number)[], options?: RunOptions) => {
      const reply = await run(keys, args, options);
      replies.push({ name, reply });
      return reply;
    };
  };
  return wrapped;
}

/** Calls per command since Redis started, from `INFO commandstats` (script calls included). */
async function commandCalls(server: RedisServer): Promise<Map<string, number>> {
  const info = String(await server.command('INFO', 'commandstats'));
  return new Map([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, calls]) => [name, Number(calls)]));
}

describe('ResponseCacheStore invalidations over a registry of 10 000 paths (standalone, counted at a RESP proxy)', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let connection: RedisConnection;
  let store: ResponseCacheStore;
  const replies: { name: string; reply: unknown }[] = [];

  const scriptOf = (command: RecordedCommand) =>
    command.name === 'EVALSHA' ? (SCRIPTS.get(command.args[0]) ?? 'other') : undefined;
  const calls = (script: string) => proxy.commands.filter((command) => scriptOf(command) === script);
  /** ARGV of an EVALSHA: after the SHA, numkeys and the keys. */
  const argv = (command: RecordedCommand) => command.args.slice(2 + Number(command.args[1]));
  const entriesLeft = async () => {
    const direct = new Redis({ host: server.host, port: server.port, lazyConnect: true });
    await direct.connect();
    const pipeline = direct.pipeline();
    for (let i = 0; i < PATHS; i++) pipeline.exists(connection.keys.cacheEntry(digestOf(`many-${i}`)));
    const results = (await pipeline.exec()) ?? [];
    direct.disconnect();
    return results.reduce((sum, [, exists]) => sum + Number(exists), 0);
  };

  /** How many `HSCAN … COUNT 500` calls a full scan of `key` takes (the same unchanged hash scans the same way). */
  async function hscanCalls(key: string): Promise<number> {
    let [count, cursor] = [0, '0'];
    do {
      const [next] = (await server.command('HSCAN', key, cursor, 'COUNT', String(ADMIN_BATCH))) as [string];
      [count, cursor] = [count + 1, next];
    } while (cursor !== '0');
    return count;
  }

  /** Asserts what every invalidation here must hold: bounded scripts and commands, and no HGETALL. */
  function expectBoundedSteps(): void {
    expect(proxy.count('HGETALL')).toBe(0);
    for (const command of proxy.commands) {
      if (command.name === 'HSCAN') expect(command.args.slice(2)).toEqual(['COUNT', String(ADMIN_BATCH)]);
      if (command.name === 'HDEL') expect(command.args.length - 1).toBeLessThanOrEqual(ADMIN_BATCH);
      if (command.name === 'UNLINK') expect(command.args).toHaveLength(1);
      if (scriptOf(command) === 'prune') expect(argv(command).length - 1).toBeLessThanOrEqual(ADMIN_BATCH);
      if (scriptOf(command) === 'take') expect(Number(argv(command)[1])).toBe(ADMIN_BATCH);
      // Only the three scripts above, each naming one key.
      if (command.name === 'EVALSHA') expect([scriptOf(command) === 'other', command.args[1]]).toEqual([false, '1']);
    }
    // What a take step returned: the members left, then at most ADMIN_BATCH live digests.
    for (const { name, reply } of replies) {
      if (name === 'cache_index_take') expect((reply as unknown[]).length).toBeLessThanOrEqual(1 + ADMIN_BATCH);
    }
  }

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    ({ app, connection } = await startRedisApp({
      url: proxy.url,
      hashSecret: 'cache-batches',
      keyPrefix: 'app:',
      commandTimeoutMs: 2000,
    }));
    store = new ResponseCacheStore(recording(connection, replies));
    // Load every script once (the prune script needs an expired field), so the calls below are EVALSHAs.
    const warm: CacheEntryRef = { digest: digestOf('warm'), route: ROUTE, path: '/warm', tags: [] };
    await store.write(warm, Buffer.from('x'), TTL_MS, await store.generation());
    await server.command('HSET', connection.keys.cacheMeta('paths'), 'expired-field', '1|/gone');
    await store.clearAll();
    await populate();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await server?.stop();
  });

  /**
   * Writes the entries straight to Redis (not through the proxy), in the store's layout:
   * one entry per path, in the route index, the route's shared variant index and its path
   * index, with both registries; plus expired path fields and expired route members.
   */
  async function populate(): Promise<void> {
    const { keys } = connection;
    const direct = new Redis({ host: server.host, port: server.port, lazyConnect: true });
    await direct.connect();
    const until = Date.now() + TTL_MS + INDEX_GRACE_MS;
    const past = Date.now() - 60_000;
    const pipeline = direct.pipeline();
    for (let i = 0; i < PATHS; i++) {
      const [digest, path] = [digestOf(`many-${i}`), `/many/p${i}`];
      pipeline.set(keys.cacheEntry(digest), 'response', 'PX', TTL_MS);
      pipeline.zadd(keys.cacheIndex('route', ROUTE.id), until, digest);
      pipeline.zadd(keys.cacheIndex('variant', `${ROUTE.id}\nshared`), until, digest);
      pipeline.zadd(keys.cacheIndex('path', path), until, digest);
      pipeline.hset(keys.cacheMeta('paths'), keys.cacheHash('path', path), `${until}|${path}`);
    }
    for (let i = 0; i < EXPIRED_FIELDS; i++) {
      pipeline.hset(keys.cacheMeta('paths'), keys.cacheHash('path', `/gone/p${i}`), `${past}|/gone/p${i}`);
    }
    for (let i = 0; i < EXPIRED_MEMBERS; i++) {
      pipeline.zadd(keys.cacheIndex('route', ROUTE.id), past, digestOf(`gone-${i}`));
    }
    pipeline.hset(keys.cacheMeta('routes'), keys.cacheHash('route', ROUTE.id), `${until}|${JSON.stringify(ROUTE)}`);
    pipeline.pexpire(keys.cacheMeta('routes'), TTL_MS + INDEX_GRACE_MS);
    pipeline.pexpire(keys.cacheMeta('paths'), TTL_MS + INDEX_GRACE_MS);
    await pipeline.exec();
    direct.disconnect();
  }

  it('clearPaths reads the registry in HSCAN pages and deletes the matched entries in steps of at most 500', async () => {
    const registry = connection.keys.cacheMeta('paths');
    expect(Number(await server.command('HLEN', registry))).toBe(PATHS + EXPIRED_FIELDS);
    const scans = await hscanCalls(registry);
    const before = await commandCalls(server);
    proxy.reset();
    replies.length = 0;

    expect(await store.clearPaths(compilePattern('/many/p1*'))).toBe(CLEARED_BY_PATTERN);

    const after = await commandCalls(server);
    const used = [...after].filter(([name, count]) => count > (before.get(name) ?? 0)).map(([name]) => name);
    // Neither a client nor a script ran an unbounded read (HGETALL, a whole ZRANGE...).
    expect(used.filter((name) => !BOUNDED.includes(name))).toEqual([]);
    expect(used).toEqual(expect.arrayContaining(['hscan', 'hget', 'zpopmin']));
    expectBoundedSteps();
    // 11 200 fields read in pages of about 500 (as many as a direct scan takes, at least 23).
    expect(proxy.count('HSCAN')).toBe(scans);
    expect(scans).toBeGreaterThanOrEqual(Math.ceil((PATHS + EXPIRED_FIELDS) / ADMIN_BATCH));
    // 1 200 expired fields pruned 500 per script; 1 111 matched fields unregistered 500 per HDEL.
    expect(calls('prune').map((command) => argv(command).length - 1)).toEqual([500, 500, 200]);
    expect(proxy.commands.filter((c) => c.name === 'HDEL').map((c) => c.args.length - 1)).toEqual([500, 500, 111]);
    // One step per matched path index (one member each), 2 generation bumps, one UNLINK per entry.
    expect(calls('take')).toHaveLength(CLEARED_BY_PATTERN);
    expect(calls('bump')).toHaveLength(2);
    expect(proxy.count('EVALSHA')).toBe(2 + 3 + CLEARED_BY_PATTERN);
    expect(proxy.count('UNLINK')).toBe(CLEARED_BY_PATTERN);
    expect(proxy.count()).toBe(scans + 3 + 3 + CLEARED_BY_PATTERN + 2 + CLEARED_BY_PATTERN);

    expect(await entriesLeft()).toBe(PATHS - CLEARED_BY_PATTERN);
    expect(Number(await server.command('HLEN', registry))).toBe(PATHS - CLEARED_BY_PATTERN);
  }, 30_000);

  it('clearAll deletes the rest in bounded steps while other clients are answered in between', async () => {
    const { keys } = connection;
    const scans = await hscanCalls(keys.cacheMeta('paths'));
    const pinger = new Redis({ host: proxy.host, port: proxy.port, lazyConnect: true });
    await pinger.connect();
    const before = await commandCalls(server);
    proxy.reset();
    replies.length = 0;

    let clearing = true;
    let [sent, answered] = [0, 0];
    const pinging = (async () => {
      while (clearing) {
        sent++;
        expect(await pinger.ping()).toBe('PONG');
        answered++;
      }
    })();
    const deleted = await store.clearAll();
    const answeredDuringClear = answered;
    clearing = false;
    await pinging;
    pinger.disconnect();

    expect(deleted).toBe(PATHS - CLEARED_BY_PATTERN);
    const after = await commandCalls(server);
    const used = [...after].filter(([name, count]) => count > (before.get(name) ?? 0)).map(([name]) => name);
    expect(used.filter((name) => !BOUNDED.includes(name))).toEqual([]);
    expectBoundedSteps();

    const remaining = PATHS - CLEARED_BY_PATTERN; // 8 889 paths left in the registry, none expired
    expect(proxy.count('HSCAN')).toBe(scans + 1); // the paths' pages and the one-route registry
    expect(calls('prune')).toEqual([]);
    // 1 route field, then 8 889 path fields 500 per HDEL (17 × 500 + 389).
    expect(
      proxy.commands
        .filter((c) => c.name === 'HDEL')
        .map((c) => c.args.length - 1)
        .sort((a, b) => b - a),
    ).toEqual([...Array<number>(17).fill(500), 389, 1]);
    // Take steps: the route index's 10 000 live + 700 expired members 500 at a time (22), its
    // shared variant index's 10 000 (20), then one step per path index.
    expect(calls('take')).toHaveLength(Math.ceil((PATHS + EXPIRED_MEMBERS) / 500) + PATHS / 500 + remaining);
    expect(calls('bump')).toHaveLength(2);
    // Every digest of the route index is unlinked once (the 1 111 already deleted count as 0).
    expect(proxy.count('UNLINK')).toBe(PATHS);

    // The pinger was answered all along: every PING, some of them while clearAll was running,
    // between its take steps (the proxy records commands in arrival order).
    expect(answered).toBe(sent);
    expect(answeredDuringClear).toBeGreaterThan(0);
    const takes = proxy.commands.flatMap((command, at) => (scriptOf(command) === 'take' ? [at] : []));
    const pingsBetweenTakes = proxy.commands.filter(
      (command, at) => command.name === 'PING' && at > takes[0] && at < takes.at(-1)!,
    );
    expect(pingsBetweenTakes.length).toBeGreaterThan(0);

    expect(await entriesLeft()).toBe(0);
    const left = (await server.command('KEYS', 'app:cache:*')) as string[];
    expect(left.filter((key) => !key.endsWith('cache:meta:gen'))).toEqual([]);
  }, 60_000);
});

describe('ResponseCacheStore invalidations over a registry larger than one batch (Cluster)', () => {
  const CLUSTER_PATHS = 1200;
  let cluster: RedisCluster;
  let app: INestApplication;
  let connection: RedisConnection;
  let store: ResponseCacheStore;
  const replies: { name: string; reply: unknown }[] = [];
  const refs = Array.from({ length: CLUSTER_PATHS }, (_, i): CacheEntryRef => ({
    digest: digestOf(`few-${i}`),
    route: ROUTE,
    path: `/few/p${i}`,
    tags: [],
  }));
  const stored = async () =>
    (await Promise.all(refs.map(async (ref) => ((await store.read(ref.digest)) ? 1 : 0)))).reduce<number>(
      (a, b) => a + b,
      0,
    );

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const options: RedisModuleOptions = { clusterNodes: cluster.seeds, hashSecret: 'cache-batches', keyPrefix: 'app:' };
    ({ app, connection } = await startRedisApp({ ...options, commandTimeoutMs: 2000 }));
    store = new ResponseCacheStore(recording(connection, replies));
    for (let start = 0; start < refs.length; start += 100) {
      const generation = await store.generation();
      const written = await Promise.all(
        refs.slice(start, start + 100).map((ref) => store.write(ref, Buffer.from('v'), TTL_MS, generation)),
      );
      expect(written.every(Boolean)).toBe(true);
    }
    const { client, keys } = connection;
    const past = Date.now() - 60_000;
    const expired = Array.from({ length: 600 }, (_, i) => [keys.cacheHash('path', `/gone/${i}`), `${past}|/gone/${i}`]);
    await client.hset(keys.cacheMeta('paths'), Object.fromEntries(expired));
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
  });

  it('clearPaths and clearAll page through the registry key on its node and take indexes in steps', async () => {
    const { client, keys } = connection;
    expect(await client.hlen(keys.cacheMeta('paths'))).toBe(CLUSTER_PATHS + 600);
    // `/few/p1*`: p1, p10–p19, p100–p199, p1000–p1199.
    expect(await store.clearPaths(compilePattern('/few/p1*'))).toBe(1 + 10 + 100 + 200);
    expect(await client.hlen(keys.cacheMeta('paths'))).toBe(CLUSTER_PATHS - 311);
    expect(await stored()).toBe(CLUSTER_PATHS - 311);
    expect(await store.clearAll()).toBe(CLUSTER_PATHS - 311);
    expect(await stored()).toBe(0);
    expect([await client.exists(keys.cacheMeta('paths')), await client.exists(keys.cacheMeta('routes'))]).toEqual([
      0, 0,
    ]);
    // The route index held 1 200 members: taken in 3 steps of at most 500.
    const takes = replies.filter(({ name }) => name === 'cache_index_take').map(({ reply }) => reply as unknown[]);
    expect(Math.max(...takes.map((reply) => reply.length))).toBe(1 + ADMIN_BATCH);
    for (const { name, reply } of replies) {
      if (name === 'cache_registry_prune') expect((reply as unknown[]).length).toBeLessThanOrEqual(ADMIN_BATCH);
    }
  }, 60_000);
});
