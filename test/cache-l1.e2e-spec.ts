import { Controller, Get, type INestApplication, Module, Post } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  CacheService,
  CacheShared,
  CacheTags,
  CacheTtl,
  InvalidateCache,
  RateLimitModule,
  RedisModule,
  ResponseCacheModule,
  type ResponseCacheModuleOptions,
} from 'nestjs-redis-shield';
import { Redis } from 'ioredis';
import request from 'supertest';
import { HeaderUserGuard } from './support/header-user.guard.js';
import { getInstanceBusToken } from '../libs/nestjs-redis-shield/src/bus/nest/bus.constants.js';
import type { InstanceBus } from '../libs/nestjs-redis-shield/src/bus/store/instance-bus.js';
import { CacheL1 } from '../libs/nestjs-redis-shield/src/cache/nest/cache-l1.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';

// Issue 18 point 1: an in-process cache (L1) of encoded entries in front of Redis (L2).
// A hit from L1 sends no cache command; every invalidation reaches every instance's L1
// through the instance bus within a second; while the bus is down, an L1 entry is served
// for at most `maxAgeWithoutBusMs`.

type Adapter = 'express' | 'fastify';

/** How often each handler ran: the body carries it, so a stale answer shows. */
const calls: Record<string, number> = {};
const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
/** What the `swr` handler waits for: the test holds a background refresh open with it. */
let refreshGate: Promise<void> = Promise.resolve();

@Controller('l1')
class L1Controller {
  @Get('shared')
  @CacheTtl(60)
  @CacheShared()
  @CacheTags('models')
  shared() {
    return { n: count('shared'), text: 'x'.repeat(2000) }; // compressed when stored
  }

  @Get('mine')
  @CacheTtl(60)
  mine() {
    return { n: count('mine') };
  }

  @Get('swr')
  @CacheTtl({ ttlSeconds: 1, staleWhileRevalidateSeconds: 60 })
  @CacheShared()
  async swr() {
    const n = count('swr');
    await refreshGate;
    return { n };
  }

  @Post('write')
  @InvalidateCache('/l1/shared')
  write() {
    return { ok: true };
  }
}

async function startApp(
  adapter: Adapter,
  redisUrl: string,
  cache: ResponseCacheModuleOptions,
  bus: { staleAfterMs?: number } = {},
): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redisUrl, hashSecret: 'l1-e2e', bus }),
      RateLimitModule.forRoot({ defaultTiers: { minute: { limit: 100_000, windowMs: 60_000 } } }),
      ResponseCacheModule.forRoot(cache),
    ],
    controllers: [L1Controller],
    providers: [{ provide: APP_GUARD, useClass: HeaderUserGuard }],
  })
  class L1Module {}
  const app = await NestFactory.create(L1Module, adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), {
    logger: false,
    abortOnError: false,
  });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Polls an async condition every 20 ms until it holds, or fails after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const status = (response: request.Response) => response.headers['x-cache-status'];

/** A GET that lets its entry be written (and put in L1) before the next request. */
async function get(app: INestApplication, path: string, headers: Record<string, string> = {}) {
  const response = await request(await app.getUrl())
    .get(path)
    .set(headers);
  await app.get(ResponseCacheWriter).flush();
  return response;
}

/** Commands about cache entries, their indexes or generation (the hit counters' flush aside). */
const cacheCommands = (proxy: RespProxy) =>
  proxy.commands.filter(
    (command) =>
      command.name === 'GET' ||
      proxy.keysOf(command).some((key) => key.includes('cache:') && !key.includes('cache:meta:stats')),
  );

/** The names of the commands that read a cache entry (a GET, or the lookup script), in order. */
const entryReads = (proxy: RespProxy) =>
  cacheCommands(proxy)
    .filter((command) => proxy.keysOf(command).some((key) => key.includes('cache:response:')))
    .map((command) => command.name);

/** What a client sees, without what differs between two answers of the same entry. */
function seen(response: request.Response) {
  const headers: Record<string, unknown> = { ...response.headers };
  for (const name of [
    'date',
    'age',
    'connection',
    'keep-alive',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'ratelimit',
  ]) {
    delete headers[name];
  }
  return { status: response.status, headers, body: response.text, age: Number(response.headers.age) };
}

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await server.command('FLUSHALL');
  for (const key of Object.keys(calls)) delete calls[key];
});

describe.each<Adapter>(['express', 'fastify'])('an L1 hit on %s', (adapter) => {
  let proxy: RespProxy;
  const apps: INestApplication[] = [];

  beforeEach(async () => {
    proxy = await startRespProxy(server);
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await proxy.close();
  });

  it('sends no cache command and answers what a Redis hit answers', async () => {
    const withL1 = await startApp(adapter, proxy.url, { l1: { maxBytes: 1 << 20 } });
    const redisOnly = await startApp(adapter, server.url, { l1: { maxBytes: 0 } }); // every hit from Redis
    apps.push(withL1, redisOnly);

    expect(status(await get(withL1, '/l1/shared'))).toBe('MISS');
    const fromRedis = await get(redisOnly, '/l1/shared');
    expect(status(fromRedis)).toBe('HIT');

    proxy.reset();
    const first = await get(withL1, '/l1/shared');
    const second = await get(withL1, '/l1/shared');
    expect(cacheCommands(proxy)).toEqual([]);
    for (const hit of [first, second]) {
      const a = seen(hit);
      const b = seen(fromRedis);
      expect({ ...a, age: undefined }).toEqual({ ...b, age: undefined });
      expect(Math.abs(a.age - b.age)).toBeLessThanOrEqual(1);
      expect(a.headers['x-cache-status']).toBe('HIT');
    }
    // A conditional request is answered from L1 too.
    proxy.reset();
    const notModified = await request(await withL1.getUrl())
      .get('/l1/shared')
      .set('If-None-Match', first.headers.etag);
    expect(notModified.status).toBe(304);
    expect(cacheCommands(proxy)).toEqual([]);
    expect(calls.shared).toBe(1);
  });

  it('serves a stale entry this instance is refreshing from L1, without reading Redis', async () => {
    const app = await startApp(adapter, proxy.url, { l1: { maxBytes: 1 << 20 } });
    apps.push(app);
    expect(status(await get(app, '/l1/swr'))).toBe('MISS');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // stale now
    let open!: () => void;
    refreshGate = new Promise((resolve) => (open = resolve));
    try {
      const url = await app.getUrl();
      // From Redis: the first stale answer schedules the refresh, which now waits in the handler.
      proxy.reset();
      const first = await request(url).get('/l1/swr');
      expect([status(first), first.text]).toEqual(['STALE', '{"n":1}']);
      expect(entryReads(proxy)).toHaveLength(1); // the lookup script (the entry was never read yet)
      await until(async () => calls.swr === 2, 3000);
      // While it runs, the same stale entry from L1: Redis would give the same, and schedule nothing.
      proxy.reset();
      const during = await Promise.all([request(url).get('/l1/swr'), request(url).get('/l1/swr')]);
      for (const answer of during) expect(seen(answer)).toEqual(seen(first));
      expect(entryReads(proxy)).toEqual([]);
    } finally {
      open();
      refreshGate = Promise.resolve();
    }
    await app.get(ResponseCacheWriter).flush(); // the refresh stored its entry (and put it in L1)
    proxy.reset();
    const after = await request(await app.getUrl()).get('/l1/swr');
    expect([status(after), after.text]).toEqual(['HIT', '{"n":2}']);
    expect(entryReads(proxy)).toEqual([]);
    // Once the refreshed entry is stale too and no refresh runs, the next answer reads Redis again.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    proxy.reset();
    expect(status(await get(app, '/l1/swr'))).toBe('STALE');
    expect(entryReads(proxy)[0]).toBe('GET'); // then the refresh's write
    expect(calls.swr).toBe(3);
  });

  it('keeps per-user entries only with perUser: true', async () => {
    const shared = await startApp(adapter, proxy.url, { l1: { maxBytes: 1 << 20 } });
    apps.push(shared);
    expect(status(await get(shared, '/l1/mine', { 'X-User': 'alice' }))).toBe('MISS');
    proxy.reset();
    expect(status(await get(shared, '/l1/mine', { 'X-User': 'alice' }))).toBe('HIT');
    expect(status(await get(shared, '/l1/mine', { 'X-User': 'alice' }))).toBe('HIT');
    // Each hit read Redis: the per-user entry was not kept. The first with the lookup script,
    // the second with a GET (the first found it stored).
    expect(entryReads(proxy)).toEqual(['EVALSHA', 'GET']);
    await shared.close();
    apps.pop();

    await server.command('FLUSHALL');
    const perUser = await startApp(adapter, proxy.url, { l1: { maxBytes: 1 << 20, perUser: true } });
    apps.push(perUser);
    expect(status(await get(perUser, '/l1/mine', { 'X-User': 'alice' }))).toBe('MISS');
    proxy.reset();
    const hit = await get(perUser, '/l1/mine', { 'X-User': 'alice' });
    expect([status(hit), hit.headers['cache-control']]).toEqual(['HIT', expect.stringContaining('private')]);
    expect(cacheCommands(proxy)).toEqual([]);
    // Another user is another entry.
    expect(status(await get(perUser, '/l1/mine', { 'X-User': 'bob' }))).toBe('MISS');
  });

  it('is on by default (32 MiB) for shared entries; maxBytes 0 turns it off', async () => {
    const byDefault = await startApp(adapter, proxy.url, {});
    apps.push(byDefault);
    expect(byDefault.get(CacheL1).cache.enabled).toBe(true);
    await get(byDefault, '/l1/shared');
    proxy.reset();
    expect(status(await get(byDefault, '/l1/shared'))).toBe('HIT');
    expect(cacheCommands(proxy)).toEqual([]);
    await byDefault.close();
    apps.pop();

    const off = await startApp(adapter, proxy.url, { l1: { maxBytes: 0 } });
    apps.push(off);
    expect(off.get(CacheL1).cache.enabled).toBe(false);
    await get(off, '/l1/shared');
    proxy.reset();
    expect(status(await get(off, '/l1/shared'))).toBe('HIT');
    // One read from Redis: a GET, as the read before found the entry stored (the lookup script's).
    expect(cacheCommands(proxy).map((command) => command.name)).toEqual(['GET']);
  });
});

const busOf = (app: INestApplication) => app.get<InstanceBus>(getInstanceBusToken());

const otherAdapter = (adapter: Adapter): Adapter => (adapter === 'express' ? 'fastify' : 'express');

// A and B on the adapter named, C on the other one: every form is sent from each adapter and
// heard by both.
describe.each<Adapter>(['express', 'fastify'])('invalidations across three instances with L1, A on %s', (adapter) => {
  let apps: INestApplication[] = [];
  const [A, B, C] = [0, 1, 2];
  const adapters = [adapter, adapter, otherAdapter(adapter)];

  afterEach(async () => {
    await Promise.all(apps.map((app) => app.close()));
    apps = [];
  });

  /** Waits until `count` bus subscribers listen, so that nothing published is missed. */
  async function subscribers(count: number) {
    await until(async () => {
      const [, listening] = (await server.command('PUBSUB', 'NUMSUB', 'bus:{instance}')) as [string, number];
      return Number(listening) === count;
    }, 5000);
  }

  function startOne(instance: number, cache: ResponseCacheModuleOptions = {}, bus: { staleAfterMs?: number } = {}) {
    return startApp(
      adapters[instance],
      server.url,
      { ...cache, l1: { maxBytes: 1 << 20, perUser: true, ...cache.l1 } },
      bus,
    );
  }

  async function startThree(bus: { staleAfterMs?: number } = {}, cache: ResponseCacheModuleOptions = {}) {
    apps = await Promise.all([A, B, C].map((instance) => startOne(instance, cache, bus)));
    await subscribers(3);
  }

  /** The entry is in every instance's L1 (each answers HIT without Redis); returns the body they serve. */
  async function cachedEverywhere(path: string, headers: Record<string, string> = {}): Promise<string> {
    expect(status(await get(apps[A], path, headers))).toBe('MISS');
    for (const app of apps) {
      expect(status(await get(app, path, headers))).toBe('HIT');
      expect(app.get(CacheL1).cache.bytes).toBeGreaterThan(0);
    }
    // Deleted behind the cache's back (no invalidation): each L1 still answers.
    await server.command('FLUSHALL');
    for (const app of apps) expect(status(await get(app, path, headers))).toBe('HIT');
    // Stored again, so that the invalidation below has something to delete in Redis too.
    await apps[A].get(CacheService).clearAll();
    expect(status(await get(apps[A], path, headers))).toBe('MISS');
    const bodies = new Set<string>();
    for (const app of apps) {
      const hit = await get(app, path, headers);
      expect(status(hit)).toBe('HIT');
      bodies.add(hit.text);
    }
    expect(bodies.size).toBe(1);
    return [...bodies][0];
  }

  /** B and C stop serving `stale` within a second (their L1 dropped it; Redis holds a fresh entry or none). */
  async function freshOnBAndC(path: string, stale: string, headers: Record<string, string> = {}) {
    const startedAt = Date.now();
    for (const instance of [B, C]) {
      await until(async () => (await get(apps[instance], path, headers)).text !== stale, 1000);
    }
    expect(Date.now() - startedAt).toBeLessThan(1500);
  }

  it.each<[string, (app: INestApplication) => Promise<unknown>]>([
    ['clearEndpoint', (app) => app.get(CacheService).clearEndpoint('/l1/shared')],
    ['invalidatePattern', (app) => app.get(CacheService).invalidatePattern('/l1/shared')],
    ['clearTags', (app) => app.get(CacheService).clearTags('models')],
    ['clearTags (several)', (app) => app.get(CacheService).clearTags('models', 'other')],
    ['clearAll', (app) => app.get(CacheService).clearAll()],
    [
      '@InvalidateCache after a write',
      async (app) => expect((await request(await app.getUrl()).post('/l1/write')).status).toBe(201),
    ],
  ])('%s on A: B and C stop serving the old entry within 1 s', async (_name, invalidate) => {
    await startThree();
    const stale = await cachedEverywhere('/l1/shared');
    await invalidate(apps[A]);
    expect(status(await get(apps[A], '/l1/shared'))).toBe('MISS');
    await freshOnBAndC('/l1/shared', stale);
  });

  it("clearUser on A: B and C stop serving the user's old entry within 1 s", async () => {
    await startThree();
    const alice = { 'X-User': 'alice' };
    const stale = await cachedEverywhere('/l1/mine', alice);
    await apps[A].get(CacheService).clearUser('alice');
    await freshOnBAndC('/l1/mine', stale, alice);
  });

  it('a corrupt entry deleted on A (one key): B and C drop their copy within 1 s', async () => {
    await startThree();
    const stale = await cachedEverywhere('/l1/shared');
    const [key] = String(await server.command('KEYS', 'cache:response:*')).split(',');
    await server.command('SET', key, 'garbage', 'PX', '60000');
    // Only A reads Redis (its own copy dropped locally, without a message): it meets the
    // garbage, deletes the entry and publishes that one key.
    apps[A].get(CacheL1).cache.invalidateAll();
    const replaced = await get(apps[A], '/l1/shared');
    expect(status(replaced)).toBe('MISS');
    expect(replaced.text).not.toBe(stale);
    await freshOnBAndC('/l1/shared', stale);
  });

  it('CacheService.del on A: B and C no longer get the value (values are never kept in process)', async () => {
    await startThree();
    await apps[A].get(CacheService).set('report', { n: 1 }, { ttlSeconds: 60 });
    for (const app of apps) expect(await app.get(CacheService).get('report')).toEqual({ n: 1 });
    await apps[A].get(CacheService).del('report');
    for (const app of apps) expect(await app.get(CacheService).get('report')).toBeUndefined();
    const recomputed = await apps[B].get(CacheService).wrap('report', () => ({ n: 2 }), { ttlSeconds: 60 });
    expect(recomputed).toEqual({ n: 2 });
    expect(await apps[C].get(CacheService).get('report')).toEqual({ n: 2 });
  });

  it('a keyVersion bump (a rolling deploy): each restarted instance stops serving the old entry at once', async () => {
    await startThree({}, { keyVersion: 'v1' });
    const stale = await cachedEverywhere('/l1/shared');
    const fresh = new Set<string>();
    for (const instance of [B, C, A]) {
      await apps[instance].close();
      apps[instance] = await startOne(instance, { keyVersion: 'v2' });
      const answer = await get(apps[instance], '/l1/shared');
      // The first one stores the v2 entry; the others read it from Redis (then keep it in L1).
      expect(status(answer)).toBe(instance === B ? 'MISS' : 'HIT');
      expect(answer.text).not.toBe(stale);
      fresh.add(answer.text);
    }
    expect(fresh.size).toBe(1);
    // Every instance now serves the v2 entry from its L1; none went back to the old one.
    for (const app of apps) expect((await get(app, '/l1/shared')).text).toBe([...fresh][0]);
  });

  describe('with the bus down', () => {
    const maxAgeWithoutBusMs = 1000;

    /**
     * GETs `path` on `app` until it no longer answers `stale` (the body its L1 holds); returns
     * when it last did and the first other answer.
     */
    async function servedUntil(app: INestApplication, path: string, stale: string, putAt: number) {
      let lastStale = putAt;
      let answer: request.Response | undefined;
      await until(async () => {
        answer = await get(app, path);
        if (answer.text !== stale) return true;
        expect(status(answer)).toBe('HIT');
        lastStale = Date.now();
        return false;
      }, maxAgeWithoutBusMs + 3000);
      return { lastStale, answer: answer! };
    }

    it('subscriptions killed: an L1 entry is not served past maxAgeWithoutBusMs', async () => {
      // The bus's own bound (60 s) plays no part: maxAgeWithoutBusMs decides.
      await startThree({ staleAfterMs: 60_000 }, { l1: { maxAgeWithoutBusMs } });
      const putAt = Date.now();
      const first = await get(apps[B], '/l1/shared');
      expect(status(first)).toBe('MISS'); // written and put in B's L1
      await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
      // Gone from Redis without any message: only the bound can end B's copy.
      await server.command('FLUSHALL');
      const { lastStale, answer } = await servedUntil(apps[B], '/l1/shared', first.text, putAt);
      expect(lastStale - putAt).toBeLessThanOrEqual(maxAgeWithoutBusMs + 300);
      expect(status(answer)).toBe('MISS');
      expect(calls.shared).toBe(2);
    });

    it('a lasting bus outage: an invalidation on A reaches no L1, yet B and C re-read from Redis after maxAgeWithoutBusMs', async () => {
      await startThree({ staleAfterMs: 60_000 }, { l1: { maxAgeWithoutBusMs } });
      const stored = await get(apps[A], '/l1/shared');
      expect(status(stored)).toBe('MISS');
      const putAt = Date.now();
      for (const instance of [B, C]) expect(status(await get(apps[instance], '/l1/shared'))).toBe('HIT');
      const admin = new Redis(server.url);
      try {
        // The requests' connections stay up; no new connection is accepted, so no subscriber returns.
        const connected = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1]);
        await admin.config('SET', 'maxclients', String(connected - 3));
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        await until(async () => apps.every((app) => !busOf(app).connected), 2000);
        // Deleted in Redis; the message reaches no other instance.
        expect(await apps[A].get(CacheService).clearEndpoint('/l1/shared')).toBe(1);
        for (const instance of [B, C]) {
          const { lastStale, answer } = await servedUntil(apps[instance], '/l1/shared', stored.text, putAt);
          expect(lastStale - putAt).toBeLessThanOrEqual(maxAgeWithoutBusMs + 300);
          // Read again from Redis (B stores a fresh entry there, C reads it).
          expect(status(answer)).toBe(instance === B ? 'MISS' : 'HIT');
        }
        // The bus stayed down throughout: the bound alone ended the stale copies.
        expect(apps.every((app) => !busOf(app).connected)).toBe(true);
      } finally {
        await admin.config('SET', 'maxclients', '10000');
        await admin.quit();
      }
    });

    it('Redis stalled (the bus falls silent): L1 hits without Redis for at most maxAgeWithoutBusMs, then the lookup goes to Redis', async () => {
      // A silent bus is noticed within twice its heartbeat (staleAfterMs / 4 = 100 ms here).
      await startThree({ staleAfterMs: 400 }, { l1: { maxAgeWithoutBusMs } });
      const putAt = Date.now();
      const first = await get(apps[B], '/l1/shared');
      expect(status(first)).toBe('MISS');
      await server.stall();
      try {
        const { lastStale, answer } = await servedUntil(apps[B], '/l1/shared', first.text, putAt);
        // The L1 answered while Redis was stalled, then no longer.
        expect(lastStale - putAt).toBeGreaterThan(maxAgeWithoutBusMs / 2);
        expect(lastStale - putAt).toBeLessThanOrEqual(maxAgeWithoutBusMs + 300);
        // It asked Redis, which does not answer: served by the handler.
        expect(status(answer)).toBe('BYPASS');
      } finally {
        await server.resume();
      }
    });
  });
});
