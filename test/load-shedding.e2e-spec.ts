import { Controller, Get, type INestApplication, Module, Query } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { RateLimitModule, RedisModule, ShedUnderLoad, SkipRateLimit } from 'nestjs-redis-shield';
import request from 'supertest';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';

// Issue 19 point 3: per-instance load shedding. While the event loop lags past the
// threshold, routes marked @ShedUnderLoad answer 503 with Retry-After before any Redis
// call; other routes go on as usual, and shedding stops once the lag is no longer recent.

type Adapter = 'express' | 'fastify';

const THRESHOLD_MS = 200;
// Long enough that a loaded machine still serves the next request while the lag is recent.
const WINDOW_MS = 1000;

/** Blocks the event loop for `ms` (what a CPU-heavy handler does). */
function blockLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

@Controller()
class LoadController {
  @Get('block')
  @SkipRateLimit()
  block(@Query('ms') ms: string) {
    blockLoop(Number(ms));
    return { blocked: Number(ms) };
  }

  @Get('export')
  @ShedUnderLoad()
  export() {
    return { exported: true };
  }

  @Get('checkout')
  checkout() {
    return { ok: true };
  }
}

@Controller('reports')
@ShedUnderLoad()
class ReportsController {
  @Get('daily')
  daily() {
    return { daily: true };
  }

  @Get('critical')
  @ShedUnderLoad(false)
  critical() {
    return { critical: true };
  }
}

async function startApp(adapter: Adapter, redisUrl: string): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redisUrl, hashSecret: 'load-shedding-e2e', commandTimeoutMs: 2000 }),
      RateLimitModule.forRoot({
        defaultTiers: { minute: { limit: 100_000, windowMs: 60_000 } },
        loadShedding: { maxEventLoopDelayMs: THRESHOLD_MS, retryAfterSeconds: 3, windowMs: WINDOW_MS },
      }),
    ],
    controllers: [LoadController, ReportsController],
  })
  class LoadModule {}
  const app = await NestFactory.create(
    LoadModule,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    {
      logger: false,
      abortOnError: false,
    },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each<Adapter>(['express', 'fastify'])('load shedding on %s', (adapter) => {
  let redis: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startRespProxy(redis);
    app = await startApp(adapter, proxy.url);
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await redis?.stop();
  });

  /** Waits until no lag is recent any more (two calm windows), so each test starts calm. */
  beforeEach(() => sleep(2 * WINDOW_MS + 100));

  it('answers 503 with Retry-After on a marked route while the loop lags, before any Redis call; other routes go on', async () => {
    expect((await request(url).get('/export')).status).toBe(200);
    await request(url).get('/block?ms=600').expect(200);

    proxy.reset();
    const shed = await request(url).get('/export').set('Accept', 'application/json');
    expect(shed.status).toBe(503);
    expect(shed.headers['retry-after']).toBe('3');
    expect(shed.body).toEqual({
      error: 'Service unavailable',
      message: 'The server is overloaded. Please try again later.',
    });
    expect(proxy.count('EVALSHA') + proxy.count('EVAL')).toBe(0);
    // Class-level mark, and the handler that opts out of it.
    expect((await request(url).get('/reports/daily')).status).toBe(503);
    expect((await request(url).get('/reports/critical')).status).toBe(200);
    // An unmarked route is limited as usual (and counted in Redis).
    const checkout = await request(url).get('/checkout');
    expect(checkout.status).toBe(200);
    expect(checkout.headers['x-ratelimit-limit']).toBe('100000');
  });

  it('answers temporary-reduced-capacity problem details when the client prefers them', async () => {
    await request(url).get('/block?ms=600').expect(200);
    const shed = await request(url).get('/export').set('Accept', 'application/problem+json');
    expect(shed.status).toBe(503);
    expect(shed.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(shed.text)).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
      title: 'Request cannot be satisfied due to temporarily reduced capacity',
      status: 503,
      detail: 'The server is overloaded. Please try again later.',
    });
  });

  it('stops shedding once the lag is no longer recent, and never sheds for a short pause', async () => {
    await request(url).get('/block?ms=600').expect(200);
    expect((await request(url).get('/export')).status).toBe(503);
    await sleep(2 * WINDOW_MS + 100);
    expect((await request(url).get('/export')).status).toBe(200);
    await request(url)
      .get(`/block?ms=${THRESHOLD_MS / 4}`)
      .expect(200);
    expect((await request(url).get('/export')).status).toBe(200);
  });
});
