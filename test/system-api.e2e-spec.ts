import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  Module,
  Param,
  Post,
} from '@nestjs/common';
import { NestFactory, RouterModule } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  CacheService,
  CacheShared,
  CacheTtl,
  InvalidateCache,
  InvalidPatternError,
  RateLimitModule,
  RedisConnection,
  RedisModule,
  ResponseCacheModule,
  type ResponseCacheModuleOptions,
  SystemApiModule,
} from 'nestjs-redis-shield';
import { CacheL1 } from '../libs/nestjs-redis-shield/src/cache/nest/cache-l1.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { CacheStatsCounter } from '../libs/nestjs-redis-shield/src/cache/nest/cache-stats.counter.js';
import { InstanceBus } from '../libs/nestjs-redis-shield/src/bus/store/instance-bus.js';
import { hashId } from '../libs/nestjs-redis-shield/src/core/hmac-id.js';
import { createHash } from 'node:crypto';
import request from 'supertest';
import { RATE_LIMIT_LUA } from '../libs/nestjs-redis-shield/src/rate-limit/store/lua/rate-limit.lua.js';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { waitFor } from './support/wait-for.js';
import { signToken } from './support/tokens.js';

const JWT_SECRET = 'system-e2e-jwt-secret-0123456789abcdef0123';

const ADMIN_ENDPOINTS: [string, string][] = [
  ['get', '/api/v1/system/cache/stats'],
  ['delete', '/api/v1/system/cache/clear'],
  ['delete', '/api/v1/system/cache/user/alice'],
  ['delete', '/api/v1/system/cache/endpoint?endpoint_pattern=models'],
  ['post', '/api/v1/system/cache/invalidate?pattern=models'],
  ['delete', '/api/v1/system/rate-limit/clients/alice'],
];

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

describe.each<HttpAdapterName>(['express', 'fastify'])('system API on %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let admin: string;
  let user: (sub: string) => Promise<string>;

  beforeAll(async () => {
    const result = loadConfig({
      REDIS_URL: server.url,
      JWT_SECRET,
      IP_HASH_SECRET: 'system-e2e-ip-hash-secret-0123456789abcdef',
      RATE_LIMIT_BURST: '3',
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger: false, adapter });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
    admin = `Bearer ${await signToken(JWT_SECRET, { sub: 'root', roles: ['admin'], plan: 'pro' })}`;
    user = async (sub) => `Bearer ${await signToken(JWT_SECRET, { sub, plan: 'pro' })}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    await app.get(ResponseCacheWriter).flush();
    await server.command('FLUSHALL');
    // FLUSHALL went behind the cache's back: empty the L1 too, as an invalidation would.
    app.get(CacheL1).cache.invalidateAll();
  });

  const call = (method: string, path: string, authorization?: string) => {
    const req = (request(url) as unknown as Record<string, (path: string) => request.Test>)[method](path);
    return authorization ? req.set('Authorization', authorization) : req;
  };

  it.each(ADMIN_ENDPOINTS)(
    '%s %s: 401 without a token, 403 without the admin role, 2xx for an admin',
    async (method, path) => {
      expect((await call(method, path)).status).toBe(401);
      expect((await call(method, path, await user('mallory'))).status).toBe(403);
      const ok = await call(method, path, admin);
      expect(ok.status).toBe(200);
      expect(ok.headers['x-cache-status']).toBeUndefined();
    },
  );

  it("cache/stats: hits by tier and the distributed cache's tallies over all instances, this instance's bus lag", async () => {
    const counter = app.get(CacheStatsCounter);
    await counter.flush();
    await server.command('FLUSHALL');
    // What the interceptor reports on this instance, and what another instance already flushed.
    counter.hit('l1');
    counter.hit('l1');
    counter.hit('l2');
    counter.miss();
    counter.stale('revalidate');
    counter.leaseWait('filled');
    counter.leaseWait('timeout');
    counter.refresh('failed');
    await server.command('HINCRBY', app.get(RedisConnection).keys.cacheMeta('stats'), 'lease_leader', '2');
    // A message from another instance, sent 25 ms ago by its clock.
    const bus = app.get(InstanceBus);
    const sentAt = Date.now() - 25;
    const message = { v: 1, from: 'other-instance-01', at: sentAt, type: 'ratelimit.reset', client: hashId('x', 'y') };
    expect(await server.command('PUBLISH', bus.channel, JSON.stringify(message))).toBe(1);
    await waitFor(() => bus.stats().lag.measured === 1, 2000, 'the message to be measured');

    const response = await call('get', '/api/v1/system/cache/stats', admin);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      hits: 3,
      l1_hits: 2,
      l2_hits: 1,
      misses: 1,
      hit_ratio: 0.75,
      stale: { revalidate: 1, error: 0 },
      lease_waits: { filled: 1, timeout: 1, leader: 2 },
      refreshes: { stored: 0, failed: 1 },
      bus_lag_ms: { measured: 1, last: expect.any(Number), max: expect.any(Number) },
    });
    const lag = response.body.bus_lag_ms as { last: number; max: number };
    expect(lag.last).toBeGreaterThanOrEqual(25);
    expect(lag.last).toBeLessThan(5000);
    expect(lag.max).toBe(lag.last);
  });

  it('rate-limit/status answers anyone, counts nothing and is 200 even over the limit', async () => {
    const token = await user('limited');
    for (let i = 0; i < 4; i++) await request(url).get('/api/v1/models').set('Authorization', token);
    const responses = [];
    for (let i = 0; i < 5; i++)
      responses.push(await request(url).get('/api/v1/system/rate-limit/status').set('Authorization', token));
    expect(responses.every((response) => response.status === 200)).toBe(true);
    const burst = responses[4].body.tiers.find((tier: { tier: string }) => tier.tier === 'burst');
    expect(burst).toMatchObject({ policy: 'default@pro', limit: 30 });
    expect(responses[0].body.tiers).toEqual(
      responses[4].body.tiers.map((t: object) => ({
        ...t,
        reset: expect.any(Number),
        reset_in_seconds: expect.any(Number),
      })),
    );
    const anonymous = await request(url).get('/api/v1/system/rate-limit/status');
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.client).toBe('ip');
  });

  it('deletions return the true count and remove exactly what they name', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    await request(url).get('/api/v1/analytics/usage').set('Authorization', alice);
    await request(url).get('/api/v1/analytics/usage').set('Authorization', bob);
    await request(url).get('/api/v1/models');
    await request(url).get('/api/v1/models/gpt-4');
    await app.get(ResponseCacheWriter).flush();
    await server.command('SET', 'foreign:key', '1');
    const del = async (method: string, path: string) => (await call(method, path, admin)).body;
    expect(await del('delete', '/api/v1/system/cache/user/alice')).toEqual({ deleted: 1 });
    expect(await del('delete', '/api/v1/system/cache/user/alice')).toEqual({ deleted: 0 });
    expect(await del('post', '/api/v1/system/cache/invalidate?pattern=/api/v1/models/gpt-4')).toEqual({ deleted: 1 });
    expect(await del('delete', '/api/v1/system/cache/endpoint?endpoint_pattern=/api/v1/models')).toEqual({
      deleted: 1,
    });
    expect(await del('delete', '/api/v1/system/cache/clear')).toEqual({ deleted: 1 }); // bob's entry
    expect(await server.command('EXISTS', 'foreign:key')).toBe(1);
    const keys = String(await server.command('KEYS', 'rate_limit:*'))
      .split(',')
      .filter(Boolean);
    expect(keys.length).toBeGreaterThan(0);
  });

  it('glob characters in a pattern match literally and never reach other keys', async () => {
    await request(url).get('/api/v1/models');
    await app.get(ResponseCacheWriter).flush();
    await server.command('SET', 'foreign:models', '1');
    for (const pattern of ['[a-z]*', '?', '\\*', '*models*']) {
      const response = await call(
        'post',
        `/api/v1/system/cache/invalidate?pattern=${encodeURIComponent(pattern)}`,
        admin,
      );
      expect(response.status).toBe(200);
    }
    expect(await server.command('EXISTS', 'foreign:models')).toBe(1);
    expect(String(await server.command('KEYS', 'rate_limit:*')).length).toBeGreaterThan(0);
  });

  it('DELETE rate-limit/clients/{client} gives a blocked client its full quota back', async () => {
    const token = await user('blocked');
    for (let i = 0; i < 31; i++) await request(url).get('/api/v1/models').set('Authorization', token);
    expect((await request(url).get('/api/v1/models').set('Authorization', token)).status).toBe(429);
    expect((await call('delete', '/api/v1/system/rate-limit/clients/blocked', admin)).body).toEqual({ reset: true });
    const after = await request(url).get('/api/v1/models').set('Authorization', token);
    expect(after.status).toBe(200);
    expect(after.headers['x-ratelimit-remaining']).toBe('29');
  });

  it.each([
    ['delete', '/api/v1/system/cache/endpoint', 'endpoint_pattern'],
    ['delete', '/api/v1/system/cache/endpoint?endpoint_pattern=', 'endpoint_pattern'],
    ['post', '/api/v1/system/cache/invalidate', 'pattern'],
    ['post', `/api/v1/system/cache/invalidate?pattern=${'x'.repeat(300)}`, 'pattern'],
    ['delete', `/api/v1/system/cache/user/${'u'.repeat(300)}`, 'user_id'],
  ])('%s %s → 400 naming %s', async (method, path, parameter) => {
    const response = await call(method, path, admin);
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).toContain(parameter);
  });

  it.each([
    ['delete', '/api/v1/system/cache/endpoint?endpoint_pattern=', 'endpoint_pattern'],
    ['post', '/api/v1/system/cache/invalidate?pattern=', 'pattern'],
  ])('%s %s… → 400 naming %s and the cap it exceeds', async (method, path, parameter) => {
    const stars = await call(method, `${path}${encodeURIComponent('/x'.repeat(4) + '*/'.repeat(20))}`, admin);
    expect(stars.status).toBe(400);
    expect(stars.body.message).toBe(`${parameter}: pattern has 20 '*', more than maxPatternStars (16)`);
    const long = await call(method, `${path}${'x'.repeat(300)}`, admin);
    expect(long.status).toBe(400);
    expect(long.body.message).toBe(`${parameter}: pattern is 300 characters long, more than maxPatternLength (256)`);
  });

  it.each(['*', '../', 'auth0|x', 'someone@example.com', '%2A', 'é'.repeat(256)])(
    'odd user id %s: 2xx or 400, never 5xx, never widening the deletion',
    async (odd) => {
      await request(url)
        .get('/api/v1/analytics/usage')
        .set('Authorization', await user('victim'));
      await app.get(ResponseCacheWriter).flush();
      const response = await call('delete', `/api/v1/system/cache/user/${encodeURIComponent(odd)}`, admin);
      expect([200, 400, 404]).toContain(response.status);
      if (response.status === 200) expect(response.body).toEqual({ deleted: 0 });
    },
  );
});

describe('system API without authorize', () => {
  it('admin endpoints answer 403 {"error":"admin endpoints disabled"}; status still works', async () => {
    @Controller('x')
    class X {
      @Get()
      get() {
        return {};
      }
    }
    @Module({
      imports: [
        RedisModule.forRoot({ url: server.url, hashSecret: 'no-authorize' }),
        RateLimitModule.forRoot({}),
        ResponseCacheModule.forRoot({}),
        SystemApiModule.forRoot(),
      ],
      controllers: [X],
    })
    class NoAuthorizeModule {}
    const logger = new CaptureLogger();
    const app = await NestFactory.create(NoAuthorizeModule, { logger, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      const response = await request(url).delete('/system/cache/clear');
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ error: 'admin endpoints disabled' });
      expect((await request(url).get('/system/rate-limit/status')).status).toBe(200);
      const warnings = logger.of('SystemApi').filter((line) => line.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toMatch(/no authorize option/);
    } finally {
      await app.close();
    }
  });

  it('authorize may be a guard class', async () => {
    @Injectable()
    class HeaderAdminGuard implements CanActivate {
      canActivate(context: ExecutionContext): boolean {
        return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-admin'] === 'yes';
      }
    }
    @Module({
      imports: [
        RedisModule.forRoot({ url: server.url, hashSecret: 'guard-class' }),
        RateLimitModule.forRoot({}),
        ResponseCacheModule.forRoot({}),
        SystemApiModule.forRoot({ authorize: HeaderAdminGuard }),
      ],
    })
    class GuardClassModule {}
    const app = await NestFactory.create(GuardClassModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      expect((await request(url).delete('/system/cache/clear')).status).toBe(403);
      const allowed = await request(url).delete('/system/cache/clear').set('X-Admin', 'yes');
      expect(allowed.status).toBe(200);
      expect(allowed.body).toEqual({ deleted: 0 });
    } finally {
      await app.close();
    }
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('rate-limit/status on %s', (adapter) => {
  const STATUS_LIMIT = 5;
  const RATE_LIMIT_SHA = createHash('sha1').update(RATE_LIMIT_LUA).digest('hex');
  let proxy: RespProxy;
  let app: INestApplication;
  let url: string;

  @Controller('x')
  class X {
    @Get()
    get() {
      return {};
    }
  }

  beforeAll(async () => {
    proxy = await startRespProxy(server);
    @Module({
      imports: [
        RedisModule.forRoot({ url: proxy.url, hashSecret: 'status-limit', commandTimeoutMs: 2000 }),
        RateLimitModule.forRoot({ defaultTiers: { burst: { limit: 3, windowMs: 60_000 } } }),
        ResponseCacheModule.forRoot({}),
        SystemApiModule.forRoot({ authorize: () => 'allow', statusLimit: { perMinute: STATUS_LIMIT } }),
      ],
      controllers: [X],
    })
    class StatusLimitModule {}
    // Callers are told apart by X-Forwarded-For (the test client is a loopback proxy).
    app = await NestFactory.create(
      StatusLimitModule,
      adapter === 'fastify' ? new FastifyAdapter({ trustProxy: 'loopback' }) : new ExpressAdapter(),
      { logger: false, abortOnError: false },
    );
    if (adapter === 'express') (app as NestExpressApplication).set('trust proxy', 'loopback');
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
  });

  beforeEach(async () => {
    await server.command('FLUSHALL');
  });

  /** Rate-limit script calls (consume or peek) that crossed the proxy since its last reset. */
  const scripts = () =>
    proxy.commands.filter((c) => (c.name === 'EVALSHA' && c.args[0] === RATE_LIMIT_SHA) || c.name === 'EVAL').length;

  it('has a limit of its own: over its default limit a client still reads its status, one call over its own is a 429', async () => {
    const caller = '198.51.100.7';
    const status = () => request(url).get('/system/rate-limit/status').set('X-Forwarded-For', caller);
    // Over the default policy (burst 3): the status endpoint still answers.
    const limited = [];
    for (let i = 0; i < 4; i++) limited.push((await request(url).get('/x').set('X-Forwarded-For', caller)).status);
    expect(limited).toEqual([200, 200, 200, 429]);
    proxy.reset();
    const answers = [];
    for (let i = 0; i < STATUS_LIMIT + 1; i++) answers.push(await status());
    expect(answers.map((answer) => answer.status)).toEqual([...Array(STATUS_LIMIT).fill(200), 429]);
    const rejected = answers[STATUS_LIMIT];
    expect(rejected.body).toMatchObject({ error: 'Rate limit exceeded', retry_after: expect.any(Number) });
    expect(Number(rejected.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // It counted nothing in the default policy: the last 200 reports the burst as the /x calls left it.
    const burst = answers[STATUS_LIMIT - 1].body.tiers.find((tier: { tier: string }) => tier.tier === 'burst');
    expect(burst).toMatchObject({ policy: 'default', limit: 3, remaining: 0 });
    // Another client is unaffected.
    expect((await request(url).get('/system/rate-limit/status').set('X-Forwarded-For', '198.51.100.8')).status).toBe(
      200,
    );
  });

  it('costs at most two scripts per admitted call and none per call over the limit (counted at the proxy)', async () => {
    const status = () => request(url).get('/system/rate-limit/status').set('X-Forwarded-For', '198.51.100.9');
    proxy.reset();
    const statuses = [];
    for (let i = 0; i < STATUS_LIMIT + 50; i++) statuses.push((await status()).status);
    expect(statuses.filter((code) => code === 200)).toHaveLength(STATUS_LIMIT);
    expect(statuses.filter((code) => code === 429)).toHaveLength(50);
    // Each admitted call: its own count and the status read; the first rejection: one count;
    // the local block cache answers the other 49 without Redis.
    expect(scripts()).toBe(2 * STATUS_LIMIT + 1);
  });

  it("an admin's reset of the client gives it its status calls back", async () => {
    const caller = '198.51.100.10';
    const status = () => request(url).get('/system/rate-limit/status').set('X-Forwarded-For', caller);
    for (let i = 0; i < STATUS_LIMIT; i++) await status();
    expect((await status()).status).toBe(429);
    expect((await request(url).delete(`/system/rate-limit/clients/${caller}`)).status).toBe(200);
    expect((await status()).status).toBe(200);
  });
});

describe('system API re-mounted with RouterModule', () => {
  it('serves under the chosen prefix, rate-limited by the default policy (except status)', async () => {
    @Module({
      imports: [
        RedisModule.forRoot({ url: server.url, hashSecret: 'router' }),
        RateLimitModule.forRoot({}),
        ResponseCacheModule.forRoot({}),
        SystemApiModule.forRoot({ authorize: () => 'allow' }),
        RouterModule.register([{ path: 'ops', module: SystemApiModule }]),
      ],
    })
    class MountedModule {}
    const app = await NestFactory.create(MountedModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      const stats = await request(url).get('/ops/system/cache/stats');
      expect(stats.status).toBe(200);
      expect(stats.headers['x-ratelimit-limit']).toBeDefined();
      const status = await request(url).get('/ops/system/rate-limit/status');
      expect(status.status).toBe(200);
      expect(status.headers['x-ratelimit-limit']).toBeUndefined();
      expect((await request(url).get('/system/cache/stats')).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});

/** A cacheable route whose paths can be long runs of one letter: the worst text for a backtracking matcher. */
@Controller('p')
@CacheTtl(60)
@CacheShared()
class LongPathController {
  @Get(':id')
  one(@Param('id') id: string) {
    return { id };
  }
}

async function startPatternApp(adapter: HttpAdapterName, cache: ResponseCacheModuleOptions, controllers: unknown[]) {
  @Module({
    imports: [
      RedisModule.forRoot({ url: server.url, hashSecret: 'patterns' }),
      RateLimitModule.forRoot({ defaultTiers: { minute: { limit: 100_000, windowMs: 60_000 } } }),
      ResponseCacheModule.forRoot(cache),
      SystemApiModule.forRoot({ authorize: () => 'allow' }),
    ],
    controllers: controllers as never[],
  })
  class PatternModule {}
  return NestFactory.create(PatternModule, adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), {
    logger: false,
    abortOnError: false,
  });
}

describe.each<HttpAdapterName>(['express', 'fastify'])('invalidation patterns on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startPatternApp(adapter, { maxPatternLength: 1024 }, [LongPathController]);
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    // The previous test's last miss may still be writing: let it land before the wipe.
    await app.get(ResponseCacheWriter).flush();
    await server.command('FLUSHALL');
    // FLUSHALL went behind the cache's back: empty the L1 too, as an invalidation would.
    app.get(CacheL1).cache.invalidateAll();
    for (const path of [`/p/${'a'.repeat(60)}`, `/p/${'b'.repeat(60)}`]) {
      expect((await request(url).get(path)).headers['x-cache-status']).toBe('MISS');
    }
    await app.get(ResponseCacheWriter).flush();
  });

  it('16 stars against a long run of one letter: answered with the true count while the app keeps serving', async () => {
    // The old `[\s\S]*` RegExp tried every placement of the 16 a's among 60: the event loop never came back.
    const miss = `${'*a'.repeat(16)}b`;
    const [invalidated, status] = await Promise.all([
      request(url).post(`/system/cache/invalidate?pattern=${encodeURIComponent(miss)}`),
      request(url).get('/system/rate-limit/status'),
    ]);
    expect(invalidated.status).toBe(200);
    expect(invalidated.body).toEqual({ deleted: 0 });
    expect(status.status).toBe(200);
    const endpoint = await request(url).delete(`/system/cache/endpoint?endpoint_pattern=${encodeURIComponent(miss)}`);
    expect(endpoint.body).toEqual({ deleted: 0 });
    const hit = await request(url).post(`/system/cache/invalidate?pattern=${encodeURIComponent('*a'.repeat(16))}`);
    expect(hit.status).toBe(200);
    expect(hit.body).toEqual({ deleted: 1 }); // the run of a's; the run of b's stays
    expect((await request(url).get(`/p/${'b'.repeat(60)}`)).headers['x-cache-status']).toBe('HIT');
    expect((await request(url).get(`/p/${'a'.repeat(60)}`)).headers['x-cache-status']).toBe('MISS');
  });

  it('the length cap is the module option, not a fixed 256', async () => {
    const accepted = await request(url).post(`/system/cache/invalidate?pattern=${'x'.repeat(1024)}`);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({ deleted: 0 });
    const refused = await request(url).delete(`/system/cache/endpoint?endpoint_pattern=${'x'.repeat(1025)}`);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe(
      'endpoint_pattern: pattern is 1025 characters long, more than maxPatternLength (1024)',
    );
  });

  it('CacheService rejects an empty or oversized pattern with InvalidPatternError, touching nothing', async () => {
    const service = app.get(CacheService);
    await expect(service.invalidatePattern('')).rejects.toThrow(InvalidPatternError);
    await expect(service.clearEndpoint('*'.repeat(17))).rejects.toMatchObject({
      name: 'InvalidPatternError',
      reason: 'maxPatternStars',
      message: "pattern has 17 '*', more than maxPatternStars (16)",
    });
    expect((await request(url).get(`/p/${'a'.repeat(60)}`)).headers['x-cache-status']).toBe('HIT');
  });
});

describe('an @InvalidateCache pattern over the caps', () => {
  it('stops the start-up, naming the handler', async () => {
    @Controller('bad')
    class BadInvalidationController {
      @Post()
      @InvalidateCache('/bad/*/*/*')
      update() {
        return {};
      }
    }
    const app = await startPatternApp('express', { maxPatternStars: 2 }, [BadInvalidationController]);
    try {
      await expect(app.init()).rejects.toThrow(
        `@InvalidateCache("/bad/*/*/*") on BadInvalidationController.update: pattern has 3 '*', more than maxPatternStars (2)`,
      );
    } finally {
      await app.close().catch(() => undefined);
    }
  });
});

describe('system API client reset of an IP address', () => {
  it('resets the bucket the guard keys that address by, under the configured ipv6Subnet', async () => {
    @Controller('x')
    class X {
      @Get()
      get() {
        return {};
      }
    }
    @Module({
      imports: [
        RedisModule.forRoot({ url: server.url, hashSecret: 'reset-ip' }),
        RateLimitModule.forRoot({ ipv6Subnet: 56, defaultTiers: { burst: { limit: 3, windowMs: 60_000 } } }),
        ResponseCacheModule.forRoot({}),
        SystemApiModule.forRoot({ authorize: () => 'allow' }),
      ],
      controllers: [X],
    })
    class ResetIpModule {}
    const app = await NestFactory.create<NestExpressApplication>(ResetIpModule, { logger: false, abortOnError: false });
    app.set('trust proxy', 'loopback');
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      const remaining = async (forwardedFor: string) =>
        (await request(url).get('/x').set('X-Forwarded-For', forwardedFor)).headers['x-ratelimit-remaining'];
      expect(await remaining('2001:db8:1:2::7')).toBe('2');
      // Another /64 of the same /56: the same client.
      expect(await remaining('2001:db8:1:3::7')).toBe('1');
      const reset = await request(url).delete('/system/rate-limit/clients/2001:db8:1:ff::1');
      expect([reset.status, reset.body]).toEqual([200, { reset: true }]);
      expect(await remaining('2001:db8:1:2::7')).toBe('2');
    } finally {
      await app.close();
    }
  });
});
