import {
  type CallHandler,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  type INestApplication,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestInterceptor,
  type NestModule,
  UseGuards,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { jest } from '@jest/globals';
import {
  CacheService,
  CacheShared,
  CacheTtl,
  RateLimitGuard,
  RateLimitModule,
  RedisModule,
  ResponseCacheModule,
} from 'nestjs-redis-shield';
import { tap } from 'rxjs';
import request from 'supertest';
import { Redis } from 'ioredis';
import { CacheInterceptor } from '../libs/nestjs-redis-shield/src/cache/nest/cache.interceptor.js';
import { CacheReporter } from '../libs/nestjs-redis-shield/src/cache/nest/cache-reporter.js';
import { DecodedEntries } from '../libs/nestjs-redis-shield/src/cache/engine/decoded-entries.js';
import { L1Cache } from '../libs/nestjs-redis-shield/src/cache/engine/l1-cache.js';
import { decodeEntry, encodeEntry } from '../libs/nestjs-redis-shield/src/cache/engine/entry-codec.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';

// Issue 18 (bench target) / issue 20 point 6: an L1 hit answered at the route, before
// Nest's guards, interceptors and reply pipeline, only where none of those could have
// changed the answer. Middleware still runs; headers and bytes are those of any hit.

type Adapter = 'express' | 'fastify';

const calls: Record<string, number> = {};
const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);

/** Lets a request through only with `X-Allow: yes`. */
@Injectable()
class AllowHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const headers = context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers;
    return headers['x-allow'] === 'yes';
  }
}

/** An interceptor that runs before the cache's and stamps every answer. */
class StampInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler) {
    const response = context.switchToHttp().getResponse<{ header?: unknown; setHeader?: unknown }>();
    const set = (typeof response.setHeader === 'function' ? response.setHeader : response.header) as (
      this: unknown,
      name: string,
      value: string,
    ) => void;
    set.call(response, 'X-Stamp', 'interceptor');
    return next.handle().pipe(tap(() => undefined));
  }
}

@Controller('fast')
class FastController {
  @Get('shared')
  @CacheTtl(60)
  @CacheShared()
  shared() {
    return { n: count('shared'), text: 'é'.repeat(50) };
  }

  @Get('guarded')
  @UseGuards(AllowHeaderGuard)
  @CacheTtl(60)
  @CacheShared()
  guarded() {
    return { n: count('guarded'), secret: 'for allowed clients only' };
  }

  @Get('decorated')
  @Header('X-Decorated', 'yes')
  @CacheTtl(60)
  @CacheShared()
  decorated() {
    return { n: count('decorated') };
  }
}

@Controller('windows')
class StaleController {
  @Get()
  @CacheTtl({ ttlSeconds: 1, staleWhileRevalidateSeconds: 60 })
  @CacheShared()
  one() {
    return { n: count('windows') };
  }
}

/** Stale after 1 s; every refresh's handler takes 400 ms (the first computation does not). */
@Controller('slow-windows')
class SlowStaleController {
  @Get()
  @CacheTtl({ ttlSeconds: 1, staleWhileRevalidateSeconds: 60 })
  @CacheShared()
  async one() {
    const n = count('slow-windows');
    if (n > 1) await new Promise((resolve) => setTimeout(resolve, 400));
    return { n };
  }
}

@Controller('class-guarded')
@UseGuards(AllowHeaderGuard)
class ClassGuardedController {
  @Get()
  @CacheTtl(60)
  @CacheShared()
  one() {
    return { n: count('class-guarded') };
  }
}

/** A subclass may decide otherwise than the guard it extends: never run by the fast path. */
@Injectable()
class SubclassedGuard extends RateLimitGuard {}

interface AppSetup {
  /** The rate-limit guard: the module's own (global), or a subclass registered instead. */
  rateLimit?: 'module' | 'subclass';
  /** The in-process L1 (default on); off, every hit reads Redis. */
  l1?: boolean;
  globalGuard?: boolean;
  stampFirst?: boolean;
  fastPath?: boolean;
}

async function startApp(adapter: Adapter, redisUrl: string, setup: AppSetup = {}): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redisUrl, hashSecret: 'fast-path-e2e' }),
      ...(setup.rateLimit
        ? [
            RateLimitModule.forRoot({
              defaultTiers: { minute: { limit: 5, windowMs: 60_000 } },
              guard: setup.rateLimit === 'module',
            }),
          ]
        : []),
      ResponseCacheModule.forRoot({ l1: { maxBytes: setup.l1 === false ? 0 : 1 << 20 }, fastPath: setup.fastPath }),
    ],
    controllers: [FastController, ClassGuardedController, StaleController, SlowStaleController],
    providers: [
      ...(setup.globalGuard ? [{ provide: APP_GUARD, useClass: AllowHeaderGuard }] : []),
      ...(setup.rateLimit === 'subclass' ? [{ provide: APP_GUARD, useClass: SubclassedGuard }] : []),
      // The root module's providers are registered first: this interceptor runs before the cache's.
      ...(setup.stampFirst ? [{ provide: APP_INTERCEPTOR, useClass: StampInterceptor }] : []),
    ],
  })
  class FastModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      // Middleware runs before the route on every request, fast or not: it may refuse or add headers.
      consumer
        .apply(
          (
            req: { headers: Record<string, string> },
            res: { setHeader(n: string, v: string): void; statusCode: number; end(): void },
            next: () => void,
          ) => {
            if (req.headers['x-block'] === 'yes') {
              res.statusCode = 451;
              res.end();
              return;
            }
            res.setHeader('X-Middleware', 'ran');
            next();
          },
        )
        .forRoutes('*path');
    }
  }
  const app = await NestFactory.create(
    FastModule,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    {
      logger: false,
      abortOnError: false,
    },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

/** A GET that lets its entry be written (and put in L1) before the next request. */
async function get(app: INestApplication, path: string, headers: Record<string, string> = {}) {
  const response = await request(await app.getUrl())
    .get(path)
    .set(headers);
  await app.get(ResponseCacheWriter).flush();
  return response;
}

const status = (response: request.Response) => response.headers['x-cache-status'];

/** What a client sees, without what differs between two answers of one entry. */
function seen(response: request.Response) {
  const headers: Record<string, unknown> = { ...response.headers };
  for (const name of ['date', 'age', 'connection', 'keep-alive']) delete headers[name];
  return { status: response.status, headers, body: response.text };
}

let server: RedisServer;
let intercepted: ReturnType<typeof jest.spyOn>;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await server.command('FLUSHALL');
  for (const key of Object.keys(calls)) delete calls[key];
  intercepted = jest.spyOn(CacheInterceptor.prototype, 'intercept');
});

afterEach(() => {
  intercepted.mockRestore();
});

/** How many times the cache entry was read (a `GET`, or the lookup script) through `proxy`. */
const entryReadsOf = (proxy: RespProxy) =>
  proxy.commands
    .filter((command) => ['GET', 'EVALSHA', 'EVAL'].includes(command.name))
    .filter((command) => proxy.keysOf(command).some((key) => key.includes('cache:response:'))).length;

describe.each<Adapter>(['express', 'fastify'])('the L1 fast path on %s', (adapter) => {
  const apps: INestApplication[] = [];

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  it("answers an unguarded route's L1 hits before Nest's pipeline, with the headers and bytes of any hit", async () => {
    const app = await startApp(adapter, server.url);
    apps.push(app);
    expect(status(await get(app, '/fast/shared'))).toBe('MISS');
    expect(status(await get(app, '/fast/shared'))).toBe('HIT'); // learns the route
    intercepted.mockClear();
    const fast = await get(app, '/fast/shared');
    expect(intercepted).not.toHaveBeenCalled();
    // An If-None-Match that does not match takes Nest's path: the interceptor's own L1 hit.
    const viaInterceptor = await get(app, '/fast/shared', { 'If-None-Match': '"other"' });
    expect(intercepted).toHaveBeenCalledTimes(1);
    expect(status(fast)).toBe('HIT');
    expect(fast.headers['x-middleware']).toBe('ran');
    expect(seen(fast)).toEqual(seen(viaInterceptor));
    expect(JSON.parse(fast.text)).toEqual({ n: 1, text: 'é'.repeat(50) });
    expect(calls.shared).toBe(1);

    // 304s and HEAD are answered by Nest's path, as before.
    const notModified = await get(app, '/fast/shared', { 'If-None-Match': fast.headers.etag as string });
    expect(notModified.status).toBe(304);
    const head = await request(await app.getUrl()).head('/fast/shared');
    expect(head.status).toBe(200);
    expect(head.headers['x-cache-status']).toBe('HIT');
    expect(calls.shared).toBe(1);
  });

  it('is never used where a guard could refuse: method, controller or global guards', async () => {
    const app = await startApp(adapter, server.url);
    const globallyGuarded = await startApp(adapter, server.url, { globalGuard: true });
    apps.push(app, globallyGuarded);
    const allowed = { 'X-Allow': 'yes' };
    for (const [target, path] of [
      [app, '/fast/guarded'],
      [app, '/class-guarded'],
      [globallyGuarded, '/fast/shared'],
    ] as const) {
      expect(status(await get(target, path, allowed))).toBe('MISS');
      for (let i = 0; i < 3; i++) {
        expect(status(await get(target, path, allowed))).toBe('HIT');
        // The entry is in L1, and still a client the guard refuses never gets it.
        expect((await get(target, path)).status).toBe(403);
      }
    }
    expect(calls).toEqual({ guarded: 1, 'class-guarded': 1, shared: 1 });
  });

  it('runs middleware on every hit: one that refuses refuses the fast path too', async () => {
    const app = await startApp(adapter, server.url);
    apps.push(app);
    await get(app, '/fast/shared');
    await get(app, '/fast/shared');
    intercepted.mockClear();
    expect((await get(app, '/fast/shared', { 'X-Block': 'yes' })).status).toBe(451);
    const hit = await get(app, '/fast/shared');
    expect(status(hit)).toBe('HIT');
    expect(intercepted).not.toHaveBeenCalled();
  });

  it("keeps what runs before the cache: an earlier global interceptor, a handler's @Header", async () => {
    const app = await startApp(adapter, server.url, { stampFirst: true });
    apps.push(app);
    for (const path of ['/fast/shared', '/fast/decorated']) {
      expect(status(await get(app, path))).toBe('MISS');
      for (let i = 0; i < 3; i++) {
        const hit = await get(app, path);
        expect(status(hit)).toBe('HIT');
        expect(hit.headers['x-stamp']).toBe('interceptor');
        if (path === '/fast/decorated') expect(hit.headers['x-decorated']).toBe('yes');
      }
    }
    const plain = await startApp(adapter, server.url);
    apps.push(plain);
    await get(plain, '/fast/decorated');
    await get(plain, '/fast/decorated');
    intercepted.mockClear();
    expect((await get(plain, '/fast/decorated')).headers['x-decorated']).toBe('yes');
    expect(intercepted).toHaveBeenCalledTimes(1); // @Header routes take Nest's path
  });

  it('serves nothing an invalidation removed, and is off with fastPath: false', async () => {
    const app = await startApp(adapter, server.url);
    apps.push(app);
    await get(app, '/fast/shared');
    await get(app, '/fast/shared');
    expect(status(await get(app, '/fast/shared'))).toBe('HIT');
    await app.get(CacheService).clearEndpoint('/fast/shared');
    const after = await get(app, '/fast/shared');
    expect(status(after)).toBe('MISS');
    expect(JSON.parse(after.text).n).toBe(2);

    const off = await startApp(adapter, server.url, { fastPath: false });
    apps.push(off);
    await get(off, '/fast/shared');
    await get(off, '/fast/shared');
    intercepted.mockClear();
    expect(status(await get(off, '/fast/shared'))).toBe('HIT');
    expect(intercepted).toHaveBeenCalledTimes(1);
  });

  it('serves a stale entry it refreshes from its L1 copy at the route: read, decoded and kept once', async () => {
    const proxy = await startRespProxy(server);
    const app = await startApp(adapter, proxy.url); // the L1 on: it holds no fresh copy of a stale entry
    apps.push(app);
    await get(app, '/slow-windows');
    await get(app, '/slow-windows'); // learns the route
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const decoded = jest.spyOn(DecodedEntries.prototype, 'set');
    const put = jest.spyOn(L1Cache.prototype, 'put');
    try {
      // The first stale serve reads Redis and schedules the refresh (400 ms); the next ones
      // are served from the L1 while it runs, before Nest's pipeline.
      proxy.reset();
      const serves = [await request(await app.getUrl()).get('/slow-windows')];
      const readsOfFirst = entryReadsOf(proxy);
      intercepted.mockClear();
      for (let i = 0; i < 3; i++) serves.push(await request(await app.getUrl()).get('/slow-windows'));
      expect(serves.map((serve) => [status(serve), JSON.parse(serve.text).n])).toEqual(Array(4).fill(['STALE', 1]));
      expect(readsOfFirst).toBe(1);
      expect(entryReadsOf(proxy)).toBe(1);
      expect(intercepted).not.toHaveBeenCalled();
      expect(decoded).toHaveBeenCalledTimes(1); // the first stale serve, read from Redis
      expect(put).toHaveBeenCalledTimes(1); // by the first, too
    } finally {
      decoded.mockRestore();
      put.mockRestore();
      await app.close();
      apps.pop();
      await proxy.close();
    }
  });

  describe('with the L1 off: hits read from Redis', () => {
    let proxy: RespProxy;
    /** The reads of a cache entry: a `GET`, or the lookup script (which names the entry's key too). */
    const reads = () =>
      proxy.commands
        .filter((command) => ['GET', 'EVALSHA', 'EVAL'].includes(command.name))
        .filter((command) => proxy.keysOf(command).some((key) => key.includes('cache:response:')));

    beforeEach(async () => {
      proxy = await startRespProxy(server);
    });

    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await proxy.close();
    });

    it('answers a fresh Redis hit at the route with one read, and a miss there reads once', async () => {
      const app = await startApp(adapter, proxy.url, { l1: false });
      apps.push(app);
      expect(status(await get(app, '/fast/shared'))).toBe('MISS');
      expect(status(await get(app, '/fast/shared'))).toBe('HIT'); // learns the route
      intercepted.mockClear();
      proxy.reset();
      const fast = await get(app, '/fast/shared');
      expect(status(fast)).toBe('HIT');
      expect(intercepted).not.toHaveBeenCalled();
      // A plain GET: the last read of this digest found it stored.
      expect(reads().map((command) => command.name)).toEqual(['GET']);
      const viaInterceptor = await get(app, '/fast/shared', { 'If-None-Match': '"other"' });
      expect(intercepted).toHaveBeenCalledTimes(1);
      expect(seen(fast)).toEqual(seen(viaInterceptor));

      // Gone from Redis: the route's read finds nothing and Nest's path runs the handler on that same read.
      await app.get(CacheService).clearEndpoint('/fast/shared');
      intercepted.mockClear();
      proxy.reset();
      const miss = await get(app, '/fast/shared');
      expect(status(miss)).toBe('MISS');
      expect(JSON.parse(miss.text).n).toBe(2);
      expect(intercepted).toHaveBeenCalledTimes(1);
      // The GET found nothing, then the lookup script asked for the lease: read twice on the route's path, never again by Nest's.
      expect(reads().map((command) => command.name)).toEqual(['GET', 'EVALSHA']);
    });

    it('decodes a hot entry once while its value is unchanged, and again whenever Redis holds other bytes', async () => {
      const decoded = jest.spyOn(DecodedEntries.prototype, 'set');
      try {
        const app = await startApp(adapter, proxy.url, { l1: false });
        apps.push(app);
        expect(status(await get(app, '/fast/shared'))).toBe('MISS');
        const first = await get(app, '/fast/shared');
        expect(status(first)).toBe('HIT');
        expect(decoded).toHaveBeenCalledTimes(1);
        for (let i = 0; i < 3; i++) expect(seen(await get(app, '/fast/shared'))).toEqual(seen(first));
        expect(decoded).toHaveBeenCalledTimes(1);

        // Rewritten behind the app's back under the same key: served as now stored, never as remembered.
        const redis = new Redis(server.url);
        try {
          const [, found] = await redis.scan('0', 'MATCH', '*cache:response:*', 'COUNT', 1000);
          const [key] = found.filter((name) => !name.includes('lease'));
          const entry = await decodeEntry((await redis.getBuffer(key))!);
          const body = Buffer.from(JSON.stringify({ n: 41, text: 'rewritten' }));
          await redis.set(key, await encodeEntry({ ...entry, body }, 1 << 20), 'KEEPTTL');
          const rewritten = await get(app, '/fast/shared');
          expect(status(rewritten)).toBe('HIT');
          expect(JSON.parse(rewritten.text)).toEqual({ n: 41, text: 'rewritten' });
          expect(decoded).toHaveBeenCalledTimes(2);
        } finally {
          redis.disconnect();
        }
      } finally {
        decoded.mockRestore();
      }
    });

    it("leaves a corrupt entry to Nest's path on the same read: reported and deleted once, recomputed", async () => {
      const corrupt = jest.spyOn(CacheReporter.prototype, 'corrupt');
      const redis = new Redis(server.url);
      try {
        const app = await startApp(adapter, proxy.url, { l1: false });
        apps.push(app);
        expect(status(await get(app, '/fast/shared'))).toBe('MISS');
        expect(status(await get(app, '/fast/shared'))).toBe('HIT'); // learns the route
        const [, found] = await redis.scan('0', 'MATCH', '*cache:response:*', 'COUNT', 1000);
        const [key] = found.filter((name) => !name.includes('lease'));
        await redis.set(key, 'garbage', 'KEEPTTL');
        intercepted.mockClear();
        proxy.reset();
        const recomputed = await get(app, '/fast/shared');
        expect(status(recomputed)).toBe('MISS');
        expect(JSON.parse(recomputed.text).n).toBe(2);
        expect(intercepted).toHaveBeenCalledTimes(1);
        // One read of the entry: the interceptor took over the route's, and did not decode it again.
        expect(reads().filter((command) => proxy.keysOf(command).includes(key))).toHaveLength(1);
        expect(corrupt).toHaveBeenCalledTimes(1);
        expect(proxy.commands.filter((command) => command.name === 'UNLINK' || command.name === 'DEL')).toHaveLength(1);
        expect(status(await get(app, '/fast/shared'))).toBe('HIT');
      } finally {
        corrupt.mockRestore();
        redis.disconnect();
      }
    });

    it("answers a stale entry at the route while this instance refreshes it: the answer Nest's path gave", async () => {
      const app = await startApp(adapter, proxy.url, { l1: false });
      apps.push(app);
      await get(app, '/slow-windows');
      expect(status(await get(app, '/slow-windows'))).toBe('HIT'); // learns the route
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const url = await app.getUrl();
      intercepted.mockClear();
      // The first stale serve is Nest's: it schedules the refresh, which runs once the answer is sent.
      const first = await request(url).get('/slow-windows');
      expect(status(first)).toBe('STALE');
      expect(intercepted).toHaveBeenCalledTimes(1);
      // While that refresh runs (its handler takes 400 ms), the same answer comes from the route.
      const during = await request(url).get('/slow-windows');
      expect(status(during)).toBe('STALE');
      expect(intercepted).toHaveBeenCalledTimes(1);
      expect(seen(during)).toEqual(seen(first));
      expect(JSON.parse(during.text)).toEqual({ n: 1 });
      await app.get(ResponseCacheWriter).flush();
      // Refreshed once, by the first stale serve's request.
      const after = await get(app, '/slow-windows');
      expect([status(after), JSON.parse(after.text)]).toEqual(['HIT', { n: 2 }]);
      expect(calls['slow-windows']).toBe(2);
    });

    it('leaves stale entries and a stalled Redis to the interceptor: STALE, then BYPASS within the deadline', async () => {
      const app = await startApp(adapter, proxy.url, { l1: false });
      apps.push(app);
      await get(app, '/windows');
      await get(app, '/windows');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      intercepted.mockClear();
      expect(status(await get(app, '/windows'))).toBe('STALE');
      expect(intercepted).toHaveBeenCalledTimes(1);

      await get(app, '/fast/shared');
      await get(app, '/fast/shared');
      await server.stall();
      try {
        const started = Date.now();
        const during = await request(await app.getUrl()).get('/fast/shared');
        expect(during.status).toBe(200);
        expect(status(during)).toBe('BYPASS');
        expect(Date.now() - started).toBeLessThan(1000);
      } finally {
        await server.resume();
      }
    });
  });

  describe('behind the rate-limit guard', () => {
    let proxy: RespProxy;
    const scripts = () => proxy.commands.filter((command) => command.name === 'EVALSHA' || command.name === 'EVAL');
    const remaining = (response: request.Response) => /"minute";r=(\d+)/.exec(String(response.headers.ratelimit))?.[1];

    beforeEach(async () => {
      proxy = await startRespProxy(server);
    });

    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await proxy.close();
    });

    it("runs the guard first: every hit counts, the 429 is the guard's own, one script per L1 hit", async () => {
      const app = await startApp(adapter, proxy.url, { rateLimit: 'module' });
      apps.push(app);
      expect(status(await get(app, '/fast/shared'))).toBe('MISS');
      expect(remaining(await get(app, '/fast/shared'))).toBe('3'); // learns the route
      intercepted.mockClear();
      proxy.reset();
      const hits = [await get(app, '/fast/shared'), await get(app, '/fast/shared'), await get(app, '/fast/shared')];
      expect(hits.map((hit) => [hit.status, status(hit), remaining(hit)])).toEqual([
        [200, 'HIT', '2'],
        [200, 'HIT', '1'],
        [200, 'HIT', '0'],
      ]);
      expect(intercepted).not.toHaveBeenCalled();
      expect(scripts()).toHaveLength(3); // the limit's; nothing for the cache
      // Over the limit: Nest's pipeline answers the rejection the guard made, through its filters.
      const rejected = await get(app, '/fast/shared');
      expect(rejected.status).toBe(429);
      expect(rejected.headers['retry-after']).toBeDefined();
      expect(rejected.headers['x-cache-status']).toBeUndefined();
      expect(JSON.parse(rejected.text)).toMatchObject({ error: 'Rate limit exceeded' });
      expect(scripts()).toHaveLength(4); // the rejection counted once
      expect(calls.shared).toBe(1);
    });

    it('reads Redis in the same round trip as the limit for a Redis hit, and never twice', async () => {
      const app = await startApp(adapter, proxy.url, { rateLimit: 'module', l1: false });
      apps.push(app);
      await get(app, '/fast/shared');
      await get(app, '/fast/shared');
      intercepted.mockClear();
      proxy.reset();
      const hit = await get(app, '/fast/shared');
      expect([status(hit), remaining(hit)]).toEqual(['HIT', '2']);
      expect(intercepted).not.toHaveBeenCalled();
      expect(scripts()).toHaveLength(1); // the limit's
      // The entry's GET (its digest was found stored by the last read), with the limit's script.
      const reads = proxy.commands.filter((command) => command.name === 'GET');
      expect(reads.map((command) => proxy.keysOf(command)[0])).toEqual([expect.stringContaining('cache:response:')]);
    });

    it("never runs a subclass of the guard itself: its hits take Nest's path", async () => {
      const app = await startApp(adapter, proxy.url, { rateLimit: 'subclass' });
      apps.push(app);
      await get(app, '/fast/shared');
      await get(app, '/fast/shared');
      intercepted.mockClear();
      const hit = await get(app, '/fast/shared');
      expect([status(hit), remaining(hit)]).toEqual(['HIT', '2']);
      expect(intercepted).toHaveBeenCalledTimes(1);
    });
  });
});
