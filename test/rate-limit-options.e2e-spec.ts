import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ipClientId,
  ManualClock,
  RateLimitModule,
  RateLimitService,
  RateLimitTestingModule,
  RedisModule,
} from 'nestjs-redis-shield';
import request from 'supertest';
import { startRateLimitApp } from './fixtures/rate-limit-app.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';

@Controller('thing')
class ThingController {
  @Get()
  get() {
    return { ok: true };
  }
}

const scriptCalls = (proxy: RespProxy) =>
  proxy.commands.filter((c) => c.name === 'EVALSHA' || c.name === 'EVAL').length;

describe('RateLimitTestingModule (no Redis)', () => {
  let app: INestApplication;
  let url: string;
  const clock = new ManualClock(Date.parse('2031-03-01T00:00:00Z'));

  beforeAll(async () => {
    @Module({
      imports: [RateLimitTestingModule.forRoot({ clock, defaultTiers: { minute: { limit: 2, windowMs: 60_000 } } })],
      controllers: [ThingController],
    })
    class TestAppModule {}
    app = await NestFactory.create(TestAppModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('limits with the same guard, headers and 429, counting in memory', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(url).get('/thing')).status);
    expect(statuses).toEqual([200, 200, 429]);
    const service = app.get(RateLimitService);
    const clientId = ipClientId('127.0.0.1');
    expect((await service.status(clientId)).remaining).toBe(0);
    // Sliding window: the previous minute still weighs in until it has slid out.
    clock.advance(120_000);
    const after = await request(url).get('/thing');
    expect(after.status).toBe(200);
    expect(after.headers['x-ratelimit-limit']).toBe('2');
    await service.reset(clientId);
    expect((await service.status(clientId)).remaining).toBe(2);
  });
});

describe('module options against Redis', () => {
  let server: RedisServer;
  let proxy: RespProxy;

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
  });

  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  beforeEach(async () => {
    await server.command('FLUSHALL');
  });

  async function withApp(
    limits: Parameters<typeof startRateLimitApp>[0]['limits'],
    run: (url: string) => Promise<void>,
  ) {
    const app = await startRateLimitApp({ adapter: 'express', redisUrl: proxy.url, limits });
    try {
      await run(await app.getUrl());
    } finally {
      await app.close();
    }
  }

  it('disabled: every request passes, no headers, no Redis traffic', async () => {
    await withApp({ disabled: true }, async (url) => {
      const before = scriptCalls(proxy);
      for (let i = 0; i < 8; i++) {
        const response = await request(url).get('/plain');
        expect(response.status).toBe(200);
        expect(response.headers['x-ratelimit-limit']).toBeUndefined();
      }
      expect(scriptCalls(proxy)).toBe(before);
    });
  });

  it('headers: false sends no rate-limit headers but keeps Retry-After on a 429', async () => {
    await withApp({ headers: false }, async (url) => {
      const responses: request.Response[] = [];
      for (let i = 0; i < 6; i++) responses.push(await request(url).get('/plain'));
      for (const response of responses) {
        expect(response.headers['x-ratelimit-limit']).toBeUndefined();
        expect(response.headers.ratelimit).toBeUndefined();
        expect(response.headers['ratelimit-policy']).toBeUndefined();
      }
      expect(responses[5].status).toBe(429);
      expect(responses[5].headers['retry-after']).toMatch(/^\d+$/);
    });
  });

  it('headers: { draft: false } keeps only X-RateLimit-*', async () => {
    await withApp({ headers: { draft: false } }, async (url) => {
      const response = await request(url).get('/plain');
      expect(response.headers['x-ratelimit-limit']).toBe('5');
      expect(response.headers.ratelimit).toBeUndefined();
    });
  });

  it('counts a request once when the module is imported twice', async () => {
    @Module({
      imports: [
        RedisModule.forRoot({ url: proxy.url, hashSecret: 'twice' }),
        RateLimitModule.forRoot({ defaultTiers: { minute: { limit: 5, windowMs: 60_000 } } }),
        RateLimitModule.forRoot({ defaultTiers: { minute: { limit: 5, windowMs: 60_000 } } }),
      ],
      controllers: [ThingController],
    })
    class TwiceModule {}
    const app = await NestFactory.create(TwiceModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      proxy.reset();
      const remaining: string[] = [];
      for (let i = 0; i < 3; i++) remaining.push((await request(url).get('/thing')).headers['x-ratelimit-remaining']);
      expect(remaining).toEqual(['4', '3', '2']);
      expect(scriptCalls(proxy)).toBe(3);
    } finally {
      await app.close();
    }
  });

  it('warns once when X-Forwarded-For arrives while the adapter does not trust proxies', async () => {
    const logger = new CaptureLogger();
    @Module({
      imports: [RedisModule.forRoot({ url: proxy.url, hashSecret: 'xff' }), RateLimitModule.forRoot({})],
      controllers: [ThingController],
    })
    class XffModule {}
    const app = await NestFactory.create(XffModule, { logger, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      for (let i = 0; i < 3; i++) await request(url).get('/thing').set('X-Forwarded-For', `198.51.100.${i}`);
      const warnings = logger.of('RateLimit').filter((line) => line.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toMatch(/X-Forwarded-For received/);
      expect(warnings[0].message).not.toContain('198.51.100');
    } finally {
      await app.close();
    }
  });

  it('warns once, without the value, when the adapter reports a client address that is not an IP address', async () => {
    const logger = new CaptureLogger();
    const app = await startRateLimitApp({ adapter: 'express', redisUrl: proxy.url, trustProxy: true, logger });
    try {
      const url = await app.getUrl();
      for (const forged of ['forged-one', 'forged-two', '10.1.2']) {
        await request(url).get('/plain').set('X-Forwarded-For', forged);
      }
      const warnings = logger.of('RateLimit').filter((line) => line.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toMatch(/not an IP address.*keyed by the connecting address/);
      expect(warnings[0].message).not.toMatch(/forged|10\.1\.2/);
    } finally {
      await app.close();
    }
  });
});
