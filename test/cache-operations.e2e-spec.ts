import { Controller, Get, type INestApplication, Module, Version, VersioningType } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheService, CacheShared, CacheTtl, RedisModule, ResponseCacheModule } from 'nestjs-redis-shield';
import { CacheL1 } from '../libs/nestjs-redis-shield/src/cache/nest/cache-l1.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import request from 'supertest';
import type { HttpAdapterName } from '../src/app.factory.js';
import { calls, control, startCacheApp } from './fixtures/cache-app.js';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';

const entryKeys = async (server: RedisServer) =>
  String(await server.command('KEYS', 'cache:response:*'))
    .split(',')
    .filter(Boolean);

describe('cache statistics over two instances', () => {
  let server: RedisServer;
  let apps: INestApplication[];

  beforeAll(async () => {
    server = await startRedis();
    apps = [
      await startCacheApp({ adapter: 'express', redisUrl: server.url }),
      await startCacheApp({ adapter: 'fastify', redisUrl: server.url }),
    ];
  });

  afterAll(async () => {
    for (const app of apps ?? []) await app.close();
    await server?.stop();
  });

  it('hits and misses rise by exactly what was sent, after one flush interval', async () => {
    const service = apps[0].get(CacheService);
    const before = await service.getStats();
    const [a, b] = await Promise.all(apps.map((app) => app.getUrl()));
    // 3 misses (distinct users) and 5 hits, spread over both instances behind one public
    // host, as a load balancer forwards it (entries are keyed by host).
    const statuses: string[] = [];
    const host = { Host: 'api.example.com' };
    for (const [url, user] of [
      [a, 'u1'],
      [b, 'u2'],
      [a, 'u3'],
    ]) {
      statuses.push((await request(url).get('/c/mine').set(host).set('X-User', user)).headers['x-cache-status']);
    }
    await Promise.all(apps.map((app) => app.get(ResponseCacheWriter).flush()));
    for (const [url, user] of [
      [b, 'u1'],
      [a, 'u1'],
      [b, 'u2'],
      [a, 'u3'],
      [b, 'u3'],
    ]) {
      statuses.push((await request(url).get('/c/mine').set(host).set('X-User', user)).headers['x-cache-status']);
    }
    expect(statuses).toEqual(['MISS', 'MISS', 'MISS', 'HIT', 'HIT', 'HIT', 'HIT', 'HIT']);
    // One flush interval (1 s) plus slack for a busy machine.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = await service.getStats();
    expect(after.hits - before.hits).toBe(5);
    expect(after.misses - before.misses).toBe(3);
    expect(after.hitRatio).toBeCloseTo(after.hits / (after.hits + after.misses));
    expect(after.entries).toBeGreaterThanOrEqual(3);
    expect(after.memoryUsedBytes).toBeGreaterThan(0);
    expect(after.ttlSeconds).toMatchObject({
      min: expect.any(Number),
      median: expect.any(Number),
      max: expect.any(Number),
    });
    expect(after.ttlSeconds!.max).toBeLessThanOrEqual(60);
  });
});

describe('cache management through CacheService', () => {
  let server: RedisServer;
  let app: INestApplication;
  let url: string;
  let service: CacheService;

  beforeAll(async () => {
    server = await startRedis();
    app = await startCacheApp({ adapter: 'express', redisUrl: server.url });
    url = await app.getUrl();
    service = app.get(CacheService);
  });

  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  beforeEach(async () => {
    await app.get(ResponseCacheWriter).flush();
    await server.command('FLUSHALL');
    // FLUSHALL went behind the cache's back: empty the L1 too, as an invalidation would.
    app.get(CacheL1).cache.invalidateAll();
  });

  async function fill() {
    await request(url).get('/c/mine').set('X-User', 'alice');
    await request(url).get('/c/mine').set('X-User', 'bob');
    await request(url).get('/c/items/1');
    await request(url).get('/c/items/2');
    await request(url).get('/c/shared');
    await app.get(ResponseCacheWriter).flush();
    expect(await entryKeys(server)).toHaveLength(5);
  }

  const status = async (path: string, user?: string) =>
    (
      await request(url)
        .get(path)
        .set(user ? { 'X-User': user } : {})
    ).headers['x-cache-status'];

  it('clearUser removes exactly that user', async () => {
    await fill();
    expect(await service.clearUser('alice')).toBe(1);
    expect(await status('/c/mine', 'alice')).toBe('MISS');
    expect(await status('/c/mine', 'bob')).toBe('HIT');
    expect(await status('/c/shared')).toBe('HIT');
  });

  it('clearEndpoint matches route templates, invalidatePattern concrete paths', async () => {
    await fill();
    expect(await service.clearEndpoint('/c/items/:id')).toBe(2);
    expect(await status('/c/items/1')).toBe('MISS');
    expect(await status('/c/shared')).toBe('HIT');
    await app.get(ResponseCacheWriter).flush();
    expect(await service.invalidatePattern('/c/items/1')).toBe(1);
    expect(await status('/c/items/1')).toBe('MISS');
  });

  it('clearAll removes only this library’s entries', async () => {
    await fill();
    await server.command('SET', 'other:thing', '1');
    await server.command('SET', 'rate_limit:{x}:default', '1');
    expect(await service.clearAll()).toBe(5);
    expect(await entryKeys(server)).toHaveLength(0);
    expect(await server.command('EXISTS', 'other:thing', 'rate_limit:{x}:default')).toBe(2);
  });

  it('wrap runs the function once and serves the stored value after', async () => {
    let runs = 0;
    const fn = async () => ({ n: ++runs });
    const results = await Promise.all(Array.from({ length: 5 }, () => service.wrap('report', fn, { ttlSeconds: 60 })));
    expect(results).toEqual(Array(5).fill({ n: 1 }));
    expect(await service.wrap('report', fn, { ttlSeconds: 60 })).toEqual({ n: 1 });
    expect(await service.get('report')).toEqual({ n: 1 });
    await service.del('report');
    expect(await service.get('report')).toBeUndefined();
  });

  // Corrupted in Redis behind the app's back: an L1 would go on serving the entry it holds,
  // so this one runs on an instance with the L1 off, where every hit decodes what Redis holds.
  describe('from Redis', () => {
    let withL1: { app: INestApplication; url: string };

    beforeAll(async () => {
      withL1 = { app, url };
      app = await startCacheApp({ adapter: 'express', redisUrl: server.url, cache: { l1: { maxBytes: 0 } } });
      url = await app.getUrl();
    });

    afterAll(async () => {
      await app?.close();
      ({ app, url } = withL1);
    });

    it('a corrupt entry is served by the handler, deleted and logged', async () => {
      const logger = new CaptureLogger();
      app.useLogger(logger);
      await request(url).get('/c/shared');
      await app.get(ResponseCacheWriter).flush();
      // A hit first: this instance has decoded the value (and keeps it, see DecodedEntries).
      expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('HIT');
      const [key] = await entryKeys(server);
      await server.command('SET', key, 'garbage', 'PX', '60000');
      const before = calls.shared ?? 0;
      const response = await request(url).get('/c/shared');
      expect(response.status).toBe(200);
      expect(calls.shared).toBe(before + 1);
      expect(logger.lines.some((line) => line.level === 'warn' && /corrupt entry/.test(line.message))).toBe(true);
      await app.get(ResponseCacheWriter).flush();
      const value = await server.command('GET', key);
      expect(value === null || !String(value).startsWith('garbage')).toBe(true);
    });
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('cache with a stalled Redis on %s', (adapter) => {
  let server: RedisServer;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    server = await startRedis();
    app = await startCacheApp({ adapter, redisUrl: server.url, commandTimeoutMs: 1000 });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await server?.resume();
    await app?.close();
    await server?.stop();
  });

  it('answers BYPASS with 2xx, never 5xx; fast once the breaker is open', async () => {
    await server.stall();
    const timings: number[] = [];
    for (let i = 0; i < 6; i++) {
      const started = performance.now();
      const response = await request(url).get('/c/shared');
      timings.push(performance.now() - started);
      expect(response.status).toBe(200);
      expect(response.headers['x-cache-status']).toBe('BYPASS');
    }
    for (const ms of timings.slice(0, 3)) expect(ms).toBeLessThan(1800);
    for (const ms of timings.slice(3)) expect(ms).toBeLessThan(300);
    await server.resume();
  }, 20_000);
});

describe('invalidation during a slow miss', () => {
  let server: RedisServer;
  let app: INestApplication;

  beforeAll(async () => {
    server = await startRedis();
    app = await startCacheApp({ adapter: 'express', redisUrl: server.url });
  });

  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it('a handler that started before an invalidation does not store its result after it', async () => {
    control.delayMs = 300;
    const url = await app.getUrl();
    const slow = request(url).get('/c/slow');
    const pending = slow.then((response) => response);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the handler is running
    await app.get(CacheService).clearEndpoint('/c/slow');
    const response = await pending;
    expect(response.status).toBe(200);
    await app.get(ResponseCacheWriter).flush();
    expect(await entryKeys(server)).toHaveLength(0);
    expect((await request(url).get('/c/slow')).headers['x-cache-status']).toBe('MISS');
    control.delayMs = 0;
  });
});

describe('response caching on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    app = await startCacheApp({ adapter: 'express', redis: { clusterNodes: cluster.seeds } });
    url = await app.getUrl();
  }, 30_000);

  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
  });

  it('MISS then HIT, per-user isolation and invalidation work across slots', async () => {
    const first = await request(url).get('/c/items/7?x=1');
    expect(first.headers['x-cache-status']).toBe('MISS');
    await request(url).get('/c/mine').set('X-User', 'alice');
    await app.get(ResponseCacheWriter).flush();
    const hit = await request(url).get('/c/items/7?x=1');
    expect(hit.headers['x-cache-status']).toBe('HIT');
    expect(hit.text).toBe(first.text);
    expect((await request(url).get('/c/mine').set('X-User', 'bob')).headers['x-cache-status']).toBe('MISS');
    expect((await request(url).get('/c/mine').set('X-User', 'alice')).headers['x-cache-status']).toBe('HIT');
    const service = app.get(CacheService);
    await app.get(ResponseCacheWriter).flush();
    expect(await service.clearUser('alice')).toBe(1);
    expect(await service.invalidatePattern('/c/items/*')).toBe(1);
    expect((await request(url).get('/c/items/7?x=1')).headers['x-cache-status']).toBe('MISS');
    expect((await request(url).get('/c/mine').set('X-User', 'bob')).headers['x-cache-status']).toBe('HIT');
  }, 30_000);
});

describe('API versions in the cache key', () => {
  let server: RedisServer;
  let app: INestApplication;

  beforeAll(async () => {
    server = await startRedis();
    @Controller('versioned')
    class VersionedController {
      private runs = 0;

      @Get()
      @Version(['1', '2'])
      @CacheTtl(60)
      @CacheShared()
      get() {
        return { runs: ++this.runs };
      }
    }
    @Module({
      imports: [RedisModule.forRoot({ url: server.url, hashSecret: 'versions' }), ResponseCacheModule.forRoot({})],
      controllers: [VersionedController],
    })
    class VersionedModule {}
    app = await NestFactory.create(VersionedModule, { logger: false, abortOnError: false });
    app.enableVersioning({ type: VersioningType.HEADER, header: 'X-API-Version' });
    await app.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it('header versioning: each requested version has its own entry', async () => {
    const url = await app.getUrl();
    const v1 = await request(url).get('/versioned').set('X-API-Version', '1');
    await app.get(ResponseCacheWriter).flush();
    const v2 = await request(url).get('/versioned').set('X-API-Version', '2');
    await app.get(ResponseCacheWriter).flush();
    expect([v1.headers['x-cache-status'], v2.headers['x-cache-status']]).toEqual(['MISS', 'MISS']);
    expect(v2.body).toEqual({ runs: 2 });
    const again = await request(url).get('/versioned').set('X-API-Version', '1');
    expect(again.headers['x-cache-status']).toBe('HIT');
    expect(again.body).toEqual({ runs: 1 });
  });
});

describe('cache options', () => {
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

  async function withApp(
    cache: Parameters<typeof startCacheApp>[0]['cache'],
    run: (url: string, app: INestApplication) => Promise<void>,
  ) {
    const app = await startCacheApp({ adapter: 'express', redisUrl: server.url, cache });
    try {
      await run(await app.getUrl(), app);
    } finally {
      await app.close();
    }
  }

  it('cacheAllGet caches GET routes without @CacheTtl (default profile) but never @NoCache ones', async () => {
    await withApp({ cacheAllGet: true, ttlProfiles: { default: 30 } }, async (url, app) => {
      expect((await request(url).get('/c/plain')).headers['x-cache-status']).toBe('MISS');
      await app.get(ResponseCacheWriter).flush();
      expect((await request(url).get('/c/plain')).headers['x-cache-status']).toBe('HIT');
      expect(calls.plain).toBe(1);
      for (let i = 0; i < 2; i++)
        expect((await request(url).get('/c/never')).headers['x-cache-status']).toBeUndefined();
      expect(calls.never).toBe(2);
    });
  });

  it('followers stop waiting after followerTimeoutMs and run the handler themselves', async () => {
    await withApp({ followerTimeoutMs: 50 }, async (url) => {
      control.delayMs = 300;
      try {
        await Promise.all(Array.from({ length: 3 }, () => request(url).get('/c/slow')));
      } finally {
        control.delayMs = 0;
      }
      expect(calls.slow).toBe(3);
    });
  });

  it("honorRequestCacheControl 'always': no-cache refreshes shared entries too", async () => {
    await withApp({ honorRequestCacheControl: 'always' }, async (url, app) => {
      await request(url).get('/c/shared');
      await app.get(ResponseCacheWriter).flush();
      expect((await request(url).get('/c/shared').set('Cache-Control', 'no-cache')).headers['x-cache-status']).toBe(
        'MISS',
      );
      expect(calls.shared).toBe(2);
    });
  });

  it("honorRequestCacheControl 'never': directives are ignored, even no-store on per-user entries", async () => {
    await withApp({ honorRequestCacheControl: 'never' }, async (url, app) => {
      await request(url).get('/c/mine').set('X-User', 'alice');
      await app.get(ResponseCacheWriter).flush();
      const response = await request(url)
        .get('/c/mine')
        .set({ 'X-User': 'alice', 'Cache-Control': 'no-store, no-cache' });
      expect(response.headers['x-cache-status']).toBe('HIT');
      expect(calls.mine).toBe(1);
    });
  });

  it('@Res() handlers are served and never stored (BYPASS, logged once)', async () => {
    const logger = new CaptureLogger();
    await withApp({}, async (url, app) => {
      app.useLogger(logger);
      for (let i = 0; i < 2; i++) {
        const response = await request(url).get('/c/raw');
        expect(response.text).toBe('raw body');
        expect(response.headers['x-cache-status']).toBe('BYPASS');
      }
      expect(calls.raw).toBe(2);
      expect(await entryKeys(server)).toHaveLength(0);
      expect(logger.lines.filter((line) => /CacheTestController.raw is not cached/.test(line.message))).toHaveLength(1);
    });
  });
});
