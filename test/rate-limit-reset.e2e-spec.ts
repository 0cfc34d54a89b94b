import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { RateLimit, RateLimitModule, RedisModule, ResponseCacheModule, SystemApiModule } from 'nestjs-redis-shield';
import request from 'supertest';
import { type RedisServer, startRedis } from './harness/index.js';

// An admin reset (issue 23 item 3, issue 16 item 2): every bucket of the client, whatever
// created it, and every instance's local state of it (block cache), within a second.

@Controller('r')
class LimitedController {
  /** An inline policy: its buckets are named after the route, not configured anywhere. */
  @Get('inline')
  @RateLimit({ perMinute: 2 })
  inline() {
    return { ok: true };
  }

  @Get('named')
  @RateLimit('strict')
  named() {
    return { ok: true };
  }
}

/** One instance: the block cache on (a rejected client is answered locally until its retry time). */
async function startInstance(
  adapter: 'express' | 'fastify',
  redisUrl: string,
  staleAfterMs: number,
): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redisUrl, hashSecret: 'reset-e2e', bus: { staleAfterMs } }),
      RateLimitModule.forRoot({
        defaultTiers: { minute: { limit: 1000, windowMs: 60_000 } },
        policies: { strict: { tiers: { minute: { limit: 2, windowMs: 60_000 } } } },
        localBlockCache: {},
      }),
      ResponseCacheModule.forRoot({}),
      SystemApiModule.forRoot({ authorize: () => 'allow' }),
    ],
    controllers: [LimitedController],
  })
  class InstanceModule {}
  const app = await NestFactory.create(
    InstanceModule,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false, abortOnError: false },
  );
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

let server: RedisServer;
let apps: INestApplication[] = [];
let urls: string[] = [];

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

afterEach(async () => {
  await Promise.all(apps.map((app) => app.close()));
  apps = [];
  urls = [];
});

async function startThree(staleAfterMs: number) {
  await server.command('FLUSHALL');
  // Mixed adapters: the bus and the reset do not depend on the HTTP platform.
  apps = await Promise.all(
    (['express', 'express', 'fastify'] as const).map((adapter) => startInstance(adapter, server.url, staleAfterMs)),
  );
  urls = await Promise.all(apps.map((app) => app.getUrl()));
  // Every instance's subscriber is in place before the test publishes.
  await until(async () => {
    const [, subscribers] = (await server.command('PUBSUB', 'NUMSUB', 'bus:{instance}')) as [string, number];
    return Number(subscribers) === 3;
  }, 5000);
}

const [A, B, C] = [0, 1, 2];
const get = (instance: number, path: string) => request(urls[instance]).get(path);

/** Blocks the client on B and C: the limit (2 per minute) is spent, both answer 429 from their block cache. */
async function blockOnBAndC(path: string) {
  expect((await get(B, path)).status).toBe(200);
  expect((await get(B, path)).status).toBe(200);
  expect((await get(B, path)).status).toBe(429);
  expect((await get(C, path)).status).toBe(429);
  // Still blocked locally: the retry time is a minute away.
  expect((await get(B, path)).status).toBe(429);
  expect((await get(C, path)).status).toBe(429);
}

describe('a client reset across three instances', () => {
  it.each([
    ['an inline route policy (never served by the resetting instance)', '/r/inline'],
    ['a configured policy', '/r/named'],
  ])('%s: reset on A, the next request on B and on C is admitted', async (_name, path) => {
    await startThree(60_000);
    await blockOnBAndC(path);
    const reset = await request(urls[A]).delete('/system/rate-limit/clients/ip:127.0.0.1');
    expect([reset.status, reset.body]).toEqual([200, { reset: true }]);
    // Delivered through the bus within a second; the staleness bound (60 s here) plays no part.
    await until(async () => (await get(B, path)).status === 200, 1000);
    const onC = await get(C, path);
    expect(onC.status).toBe(200);
    // The quota was given back in full: B's request took one unit, C's the second.
    expect(onC.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('with the subscriber connections killed, a missed reset heals within the staleness bound', async () => {
    const staleAfterMs = 1500;
    await startThree(staleAfterMs);
    await blockOnBAndC('/r/named');
    // Every subscriber loses its connection; the reset below may reach no instance.
    await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const startedAt = Date.now();
    const reset = await request(urls[A]).delete('/system/rate-limit/clients/ip:127.0.0.1');
    expect(reset.status).toBe(200);
    await until(async () => (await get(B, '/r/named')).status === 200, staleAfterMs + 2000);
    await until(async () => (await get(C, '/r/named')).status !== 429, staleAfterMs + 2000);
    // Bounded by the staleness bound (plus a retry), never the block's minute-long retry time.
    expect(Date.now() - startedAt).toBeLessThan(staleAfterMs + 2500);
  });

  it('accepts explicit user: and ip: forms, and refuses an ip: form that is not an address', async () => {
    await startThree(60_000);
    expect((await request(urls[A]).delete('/system/rate-limit/clients/user:127.0.0.1')).body).toEqual({
      reset: true,
    });
    const bad = await request(urls[A]).delete('/system/rate-limit/clients/ip:not-an-address');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('client');
  });
});
