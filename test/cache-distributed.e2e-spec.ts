import {
  Controller,
  Get,
  Header,
  type INestApplication,
  Module,
  NotFoundException,
  Req,
  ServiceUnavailableException,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  CacheService,
  CacheShared,
  CacheTtl,
  RateLimitModule,
  RedisModule,
  ResponseCacheModule,
  type ResponseCacheModuleOptions,
} from 'nestjs-redis-shield';
import request from 'supertest';
import { HeaderUserGuard } from './support/header-user.guard.js';
import { waitFor } from './support/wait-for.js';
import { CacheStatsCounter } from '../libs/nestjs-redis-shield/src/cache/nest/cache-stats.counter.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { RedisConnection } from 'nestjs-redis-shield';

// Issue 18 points 2-5: the response cache across instances. Concurrent misses of one
// entry on every instance run the handler once (a lease in Redis taken by the lookup
// script); a dead leader holds the others no longer than the follower timeout; stale
// entries are served while one request refreshes them in the background
// (stale-while-revalidate) or when the handler or Redis fails (stale-if-error); a route
// may let its responses' Cache-Control set these lifetimes.

type Adapter = 'express' | 'fastify';

/** How often each handler ran, and with which user: the body carries it, so staleness shows. */
const calls: Record<string, number> = {};
const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
let failWith: 'throw' | '503' | '404' | undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Controller('d')
class DistributedController {
  @Get('slow')
  @CacheTtl(60)
  @CacheShared()
  async slow() {
    const n = count('slow');
    await sleep(300);
    return { n };
  }

  @Get('slower')
  @CacheTtl(60)
  @CacheShared()
  async slower() {
    const n = count('slower');
    await sleep(1000);
    return { n };
  }

  @Get('swr')
  @CacheTtl({ ttlSeconds: 1, staleWhileRevalidateSeconds: 30 })
  @CacheShared()
  async swr() {
    const n = count('swr');
    await sleep(100);
    return { n };
  }

  @Get('swr-mine')
  @CacheTtl({ ttlSeconds: 1, staleWhileRevalidateSeconds: 30 })
  swrMine(@Req() req: { user?: { id: string } }) {
    return { n: count(`swr-mine:${req.user?.id}`), user: req.user?.id };
  }

  @Get('sie')
  @CacheTtl({ ttlSeconds: 1, staleIfErrorSeconds: 60 })
  @CacheShared()
  sie() {
    if (failWith === 'throw') throw new Error('database down');
    if (failWith === '503') throw new ServiceUnavailableException();
    if (failWith === '404') throw new NotFoundException();
    return { n: count('sie') };
  }

  @Get('own-lifetime')
  @CacheTtl({ ttlSeconds: 1, respectResponseCacheControl: true })
  @CacheShared()
  @Header('Cache-Control', 'max-age=60')
  ownLifetime() {
    return { n: count('own-lifetime') };
  }

  @Get('own-lifetime-ignored')
  @CacheTtl(1)
  @CacheShared()
  @Header('Cache-Control', 'max-age=60')
  ownLifetimeIgnored() {
    return { n: count('own-lifetime-ignored') };
  }

  @Get('own-stale')
  @CacheTtl({ ttlSeconds: 60, respectResponseCacheControl: true })
  @CacheShared()
  @Header('Cache-Control', 'max-age=1, stale-while-revalidate=30')
  ownStale() {
    return { n: count('own-stale') };
  }

  @Get('own-no-store')
  @CacheTtl({ ttlSeconds: 60, staleWhileRevalidateSeconds: 30, respectResponseCacheControl: true })
  @CacheShared()
  @Header('Cache-Control', 'no-store, stale-while-revalidate=30')
  ownNoStore() {
    return { n: count('own-no-store') };
  }
}

async function startApp(
  adapter: Adapter,
  redis: RedisServer,
  cache: ResponseCacheModuleOptions = {},
  limitPerMinute = 100_000,
): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redis.url, hashSecret: 'distributed-e2e' }),
      RateLimitModule.forRoot({ defaultTiers: { minute: { limit: limitPerMinute, windowMs: 60_000 } } }),
      ResponseCacheModule.forRoot({ l1: { maxBytes: 1 << 20, perUser: true }, ...cache }),
    ],
    controllers: [DistributedController],
    providers: [{ provide: APP_GUARD, useClass: HeaderUserGuard }],
  })
  class DistributedModule {}
  const app = await NestFactory.create(
    DistributedModule,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false, abortOnError: false },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

async function get(app: INestApplication, path: string, headers: Record<string, string> = {}) {
  return request(await app.getUrl())
    .get(path)
    .set(headers);
}

const status = (response: request.Response) => response.headers['x-cache-status'] as string;

/** The statistics over every instance, once each flushed its counts. */
async function statsOf(apps: INestApplication[]) {
  await Promise.all(apps.map((app) => app.get(CacheStatsCounter).flush()));
  return apps[0].get(CacheService).getStats();
}

/** Every instance's background cache work (writes, lease releases, refreshes) is done. */
const settled = (apps: INestApplication[]) => Promise.all(apps.map((app) => app.get(ResponseCacheWriter).flush()));

describe.each<Adapter>(['express', 'fastify'])('the response cache across three %s instances', (adapter) => {
  let redis: RedisServer;
  let apps: INestApplication[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  beforeEach(async () => {
    for (const key of Object.keys(calls)) delete calls[key];
    failWith = undefined;
    await redis.command('FLUSHALL'); // this file's own server
  });

  afterEach(async () => {
    await Promise.all(apps.map((app) => app.close()));
    apps = [];
  });

  async function startThree(cache: ResponseCacheModuleOptions = {}) {
    apps = await Promise.all([0, 1, 2].map(() => startApp(adapter, redis, cache)));
    // Every instance's bus subscriber is in place before anything is published.
    const deadline = Date.now() + 5000;
    for (;;) {
      const [, subscribers] = (await redis.command('PUBSUB', 'NUMSUB', 'bus:{instance}')) as [string, number];
      if (Number(subscribers) === 3) break;
      if (Date.now() > deadline) throw new Error('the bus subscribers did not start');
      await sleep(20);
    }
  }

  describe('cross-instance single-flight', () => {
    it('30 concurrent misses of one key over 3 instances run the handler exactly once', async () => {
      await startThree();
      const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => get(apps[i % 3], '/d/slow')));
      expect(responses.map((response) => response.status)).toEqual(Array(30).fill(200));
      expect(calls.slow).toBe(1);
      expect(new Set(responses.map((response) => response.text))).toEqual(new Set(['{"n":1}']));
      const statuses = responses.map(status);
      expect(statuses.filter((s) => s === 'MISS')).toHaveLength(1);
      expect(statuses.filter((s) => s === 'HIT')).toHaveLength(29);
      await settled(apps);
      // The leader gave its lease up once its entry was stored.
      expect(await redis.command('KEYS', 'cache:lease:*')).toEqual([]);
      // The requests on the two other instances waited for the leader's entry (counted per
      // request; those of one instance shared one wait) and every wait got it.
      const stats = await statsOf(apps);
      expect(stats.leaseWaits.filled).toBeGreaterThan(0);
      expect(stats.leaseWaits.filled).toBeLessThanOrEqual(20);
      expect([stats.leaseWaits.timeout, stats.leaseWaits.leader]).toEqual([0, 0]);
      expect([stats.hits, stats.misses]).toEqual([29, 1]);
    });

    it('an entry every instance was reading with a plain GET, once gone, is still computed once across them', async () => {
      await startThree({ l1: { maxBytes: 0 } });
      // Hits on every instance: after them, each reads this digest with a GET, not the lookup script.
      for (const app of [...apps, ...apps]) await get(app, '/d/slow');
      expect(calls.slow).toBe(1);
      const [entry] = (await redis.command('KEYS', 'cache:response:*')) as string[];
      await redis.command('DEL', entry); // as when it expires
      const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => get(apps[i % 3], '/d/slow')));
      expect(responses.map((response) => response.status)).toEqual(Array(30).fill(200));
      // Each GET that found nothing went on to the lookup script and its lease: one leader.
      expect(calls.slow).toBe(2);
      expect(new Set(responses.map((response) => response.text))).toEqual(new Set(['{"n":2}']));
      expect(responses.map(status).filter((s) => s === 'MISS')).toHaveLength(1);
      await settled(apps);
      expect(await redis.command('KEYS', 'cache:lease:*')).toEqual([]);
    });

    it('a dead leader (its lease left in Redis) holds followers no longer than the follower timeout', async () => {
      await startThree({ followerTimeoutMs: 1000 });
      // What a leader killed mid-handler leaves: its lease, until it expires.
      const lease = await leaseKeyOf('/d/slow');
      await redis.command('SET', lease, 'killed-leader', 'PX', '60000');
      const startedAt = performance.now();
      const responses = await Promise.all([0, 1, 2].map((i) => get(apps[i], '/d/slow')));
      const elapsed = performance.now() - startedAt;
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
      // Each waited up to the timeout, then ran the handler itself (300 ms), not forever.
      expect(elapsed).toBeGreaterThanOrEqual(1000);
      expect(elapsed).toBeLessThan(1000 + 300 + 1500);
      expect(calls.slow).toBe(3);
    });

    it('a lease that expires before the timeout lets one follower lead: the handler runs once', async () => {
      await startThree({ followerTimeoutMs: 3000 });
      const lease = await leaseKeyOf('/d/slow');
      await redis.command('SET', lease, 'killed-leader', 'PX', '400');
      const startedAt = performance.now();
      const responses = await Promise.all(Array.from({ length: 9 }, (_, i) => get(apps[i % 3], '/d/slow')));
      const elapsed = performance.now() - startedAt;
      expect(responses.map((response) => response.status)).toEqual(Array(9).fill(200));
      expect(calls.slow).toBe(1);
      expect(elapsed).toBeLessThan(3000); // not the whole follower timeout
    });

    it('a request rejected by the rate limit gives up the lease its early read took', async () => {
      // The cache read starts with the rate-limit script (one round trip); a client over
      // its limit must not keep everyone else's misses waiting on a lease it never uses.
      apps = [await startApp(adapter, redis, {}, 1)];
      expect((await get(apps[0], '/d/slow?page=1')).status).toBe(200);
      const rejected = await get(apps[0], '/d/slow?page=2');
      expect(rejected.status).toBe(429);
      await settled(apps);
      expect(await redis.command('KEYS', 'cache:lease:*')).toEqual([]);
      expect(calls.slow).toBe(1);
    });

    it('a leader that finished while Redis was stalled gives its lease back once Redis answers again', async () => {
      // Redis frozen while a miss runs its handler: the entry cannot be stored, nor the
      // lease given back (the breaker is open by then). After the stall, that lease must
      // not hold every instance's miss of the entry until it lapses (here 10 s).
      await startThree({ followerTimeoutMs: 10_000 });
      const leader = get(apps[0], '/d/slower');
      await waitFor(async () => (await leaseKeys()).length === 1, 3000, 'the lease taken');
      const connection = apps[0].get(RedisConnection);
      await redis.stall();
      try {
        // Other requests of this instance time out on Redis until the breaker opens.
        await Promise.all(Array.from({ length: 4 }, (_, i) => get(apps[0], `/d/swr?page=${i}`)));
        expect(connection.circuitOpen).toBe(true);
        const led = await leader; // its handler (1 s) ends with the breaker open
        expect([led.status, status(led)]).toEqual([200, 'MISS']);
        await settled(apps); // its store and its lease release failed at once: the breaker is open
      } finally {
        await redis.resume();
      }
      await waitFor(async () => connection.state === 'ready', 3000, 'the breaker to close');
      await waitFor(async () => (await leaseKeys()).length === 0, 3000, 'the lease given back');
      // The next miss, on another instance, leads at once instead of waiting on the lease.
      const startedAt = performance.now();
      const next = await get(apps[1], '/d/slower');
      expect([next.status, status(next)]).toEqual([200, 'MISS']);
      expect(performance.now() - startedAt).toBeLessThan(3000);
      expect(calls.slower).toBe(2);
    });

    const leaseKeys = async () => (await redis.command('KEYS', 'cache:lease:*')) as string[];

    /** The lease key of a shared route's entry: learnt from the entry a first request stores. */
    async function leaseKeyOf(path: string): Promise<string> {
      const probe = await get(apps[0], path);
      expect(status(probe)).toBe('MISS');
      await settled(apps);
      const [entry] = (await redis.command('KEYS', 'cache:response:*')) as string[];
      await redis.command('FLUSHALL');
      for (const app of apps) await app.get(ResponseCacheWriter).flush();
      // Drop every instance's L1 copy too: the next requests must miss.
      await redis.command('PUBLISH', 'bus:{instance}', busAll());
      await sleep(100);
      delete calls.slow;
      return entry.replace('cache:response:', 'cache:lease:');
    }
  });

  describe('stale-while-revalidate', () => {
    it('serves STALE at once on every instance (Age over the TTL) and refreshes once across them', async () => {
      await startThree();
      expect(status(await get(apps[0], '/d/swr'))).toBe('MISS');
      await settled(apps);
      await sleep(2100); // past the 1 s TTL, within the 30 s window
      const startedAt = performance.now();
      const stale = await Promise.all(Array.from({ length: 9 }, (_, i) => get(apps[i % 3], '/d/swr')));
      const elapsed = performance.now() - startedAt;
      for (const response of stale) {
        expect([response.status, status(response), response.text]).toEqual([200, 'STALE', '{"n":1}']);
        expect(Number(response.headers.age)).toBeGreaterThan(1);
      }
      expect(elapsed).toBeLessThan(100 * 9); // nobody waited for the 100 ms handler per request
      await settled(apps);
      expect(calls.swr).toBe(2); // the first run, and one refresh across all instances
      const stats = await statsOf(apps);
      expect(stats.stale).toEqual({ revalidate: 9, error: 0 });
      expect(stats.refreshes).toEqual({ stored: 1, failed: 0 });
      for (const app of apps) {
        const fresh = await get(app, '/d/swr');
        expect([status(fresh), fresh.text]).toEqual(['HIT', '{"n":2}']);
        expect(fresh.headers.age).toBe('0');
      }
    });

    it("refreshes a per-user entry with that user's identity, never another's", async () => {
      await startThree();
      for (const user of ['alice', 'bob']) {
        expect(status(await get(apps[0], '/d/swr-mine', { 'X-User': user }))).toBe('MISS');
      }
      await settled(apps);
      await sleep(2100);
      const stale = await get(apps[1], '/d/swr-mine', { 'X-User': 'alice' });
      expect([status(stale), stale.body]).toEqual(['STALE', { n: 1, user: 'alice' }]);
      expect(stale.headers['cache-control']).toContain('private');
      await settled(apps);
      expect(calls['swr-mine:alice']).toBe(2);
      expect(calls['swr-mine:bob']).toBe(1);
      const alice = await get(apps[2], '/d/swr-mine', { 'X-User': 'alice' });
      expect([status(alice), alice.body]).toEqual(['HIT', { n: 2, user: 'alice' }]);
      const bob = await get(apps[2], '/d/swr-mine', { 'X-User': 'bob' });
      expect([status(bob), bob.body]).toEqual(['STALE', { n: 1, user: 'bob' }]);
    });
  });

  describe('stale-if-error', () => {
    it.each<['throw' | '503']>([['throw'], ['503']])(
      'serves the stale entry when the handler fails (%s), and not past the window',
      async (failure) => {
        await startThree();
        expect(status(await get(apps[0], '/d/sie'))).toBe('MISS');
        await settled(apps);
        await sleep(1100);
        failWith = failure;
        for (const app of apps) {
          const response = await get(app, '/d/sie');
          expect([response.status, status(response), response.text]).toEqual([200, 'STALE', '{"n":1}']);
        }
        failWith = undefined;
        const fresh = await get(apps[1], '/d/sie');
        expect([status(fresh), fresh.text]).toEqual(['MISS', '{"n":2}']);
      },
    );

    it('a 4xx is the answer, not a failure: it passes through', async () => {
      await startThree();
      await get(apps[0], '/d/sie');
      await settled(apps);
      await sleep(1100);
      failWith = '404';
      expect((await get(apps[1], '/d/sie')).status).toBe(404);
    });

    it("serves this instance's L1 copy when Redis cannot be read (stalled)", async () => {
      await startThree();
      expect(status(await get(apps[0], '/d/sie'))).toBe('MISS');
      await settled(apps);
      expect(status(await get(apps[1], '/d/sie'))).toBe('HIT'); // now in B's L1 too
      await sleep(1100);
      await redis.stall();
      try {
        failWith = 'throw'; // a handler depending on the same outage
        const response = await get(apps[1], '/d/sie');
        expect([response.status, status(response), response.text]).toEqual([200, 'STALE', '{"n":1}']);
      } finally {
        await redis.resume();
      }
      const stats = await statsOf(apps);
      expect(stats.stale).toEqual({ revalidate: 0, error: 1 });
      expect(stats.l1Hits).toBe(1); // the stale answer came from B's L1
    });
  });

  describe("the response's own Cache-Control (respectResponseCacheControl)", () => {
    it('max-age sets the TTL when the route opts in, and only shortens it otherwise', async () => {
      await startThree();
      expect(status(await get(apps[0], '/d/own-lifetime'))).toBe('MISS');
      expect(status(await get(apps[0], '/d/own-lifetime-ignored'))).toBe('MISS');
      await settled(apps);
      await sleep(1500);
      expect(status(await get(apps[1], '/d/own-lifetime'))).toBe('HIT'); // 60 s from the response
      expect(status(await get(apps[1], '/d/own-lifetime-ignored'))).toBe('MISS'); // the route's 1 s
    });

    it('stale-while-revalidate from the response gives the stale window', async () => {
      await startThree();
      expect(status(await get(apps[0], '/d/own-stale'))).toBe('MISS');
      await settled(apps);
      await sleep(1500);
      expect(status(await get(apps[2], '/d/own-stale'))).toBe('STALE');
    });

    it('no-store keeps its meaning', async () => {
      await startThree();
      expect(status(await get(apps[0], '/d/own-no-store'))).toBe('BYPASS');
      await settled(apps);
      expect(status(await get(apps[0], '/d/own-no-store'))).toBe('BYPASS');
      expect(calls['own-no-store']).toBe(2);
    });
  });
});

/** A bus message that drops every instance's L1 (what `clearAll` publishes). */
function busAll(): string {
  return JSON.stringify({ v: 1, from: 'test-publisher-0001', type: 'cache.invalidate', scope: 'all' });
}
