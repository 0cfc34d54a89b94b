import {
  Controller,
  type ExecutionContext,
  Get,
  HttpException,
  HttpStatus,
  type INestApplication,
  Injectable,
  Module,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  type HttpExchange,
  MemoryRateLimitStore,
  type RateLimitDecisionEvent,
  RateLimitGuard,
  RateLimitModule,
  type RateLimitModuleOptions,
  type RateLimitPolicy,
  type RateLimitResult,
  RateLimitService,
  RateLimitStore,
  type RateLimitStoreDecision,
  type RateLimitStoreRequest,
  RateLimitTestingModule,
  RedisModule,
  RedisUnavailableError,
  ShieldEvents,
} from 'nestjs-redis-shield';
import { redisClock } from '../libs/nestjs-redis-shield/src/core/clock.js';
import request from 'supertest';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';

// The extension seams users of @nestjs/throttler look for: a RateLimitGuard subclass
// overriding the tracker, the key and the rejection; a custom store in the `store` option.

type HttpAdapterName = 'express' | 'fastify';

const TIERS = { minute: { limit: 2, windowMs: 60_000 } };

@Controller('a')
class AController {
  @Get()
  get() {
    return { ok: true };
  }
}

@Controller('b')
class BController {
  @Get()
  get() {
    return { ok: true };
  }
}

/** Counts clients by tenant header (else as the module would), apart per controller; answers its own 429. */
@Injectable()
class TenantGuard extends RateLimitGuard {
  protected override getTracker(context: ExecutionContext, exchange: HttpExchange): string | Promise<string> {
    const tenant = exchange.header('x-tenant');
    return tenant ? `tenant:${tenant}` : super.getTracker(context, exchange);
  }

  protected override generateKey(context: ExecutionContext, tracker: string): string {
    return context.getClass() === BController ? `${tracker}#b` : tracker;
  }

  protected override throwRejection(
    _context: ExecutionContext,
    _exchange: HttpExchange,
    result: RateLimitResult,
    cost: number,
  ): never {
    throw new HttpException(
      { error: 'tenant over its limit', tier: result.tier, retry_ms: result.retryAfterMs, cost },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

async function listen(module: unknown, adapter: HttpAdapterName): Promise<INestApplication> {
  const app = await NestFactory.create(
    module as never,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false, abortOnError: false },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<HttpAdapterName>(['express', 'fastify'])('a RateLimitGuard subclass on %s', (adapter) => {
  let server: RedisServer;
  let app: INestApplication;
  let url: string;
  const decisions: RateLimitDecisionEvent[] = [];

  beforeAll(async () => {
    server = await startRedis();
    @Module({
      imports: [
        RedisModule.forRoot({ url: server.url, hashSecret: 'extension-e2e', commandTimeoutMs: 2000 }),
        RateLimitModule.forRoot({ defaultTiers: TIERS, guard: false }),
      ],
      controllers: [AController, BController],
      providers: [{ provide: APP_GUARD, useClass: TenantGuard }],
    })
    class GuardAppModule {}
    app = await listen(GuardAppModule, adapter);
    url = await app.getUrl();
    app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
  });

  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it('counts by the overridden tracker and key, and rejects with the overridden exception', async () => {
    const acme = () => request(url).get('/a').set('x-tenant', 'acme');
    expect([(await acme()).status, (await acme()).status]).toEqual([200, 200]);
    const rejected = await acme();
    expect(rejected.status).toBe(429);
    expect(rejected.body).toEqual({
      error: 'tenant over its limit',
      tier: 'minute',
      retry_ms: expect.any(Number),
      cost: 1,
    });
    expect(rejected.body.retry_ms).toBeGreaterThan(0);
    // The guard's headers are set before the rejection; Retry-After is the default rejection's, not this one's.
    expect(rejected.headers['x-ratelimit-remaining']).toBe('0');
    expect(rejected.headers['retry-after']).toBeUndefined();
    // Another tenant, the same tenant on B (its own key) and a request without a tenant (by IP) pass.
    expect((await request(url).get('/a').set('x-tenant', 'globex')).status).toBe(200);
    expect((await request(url).get('/b').set('x-tenant', 'acme')).status).toBe(200);
    expect((await request(url).get('/a')).status).toBe(200);
    expect([...new Set(decisions.map((event) => event.clientId))]).toEqual([
      'tenant:acme',
      'tenant:globex',
      'tenant:acme#b',
      'ip:127.0.0.1',
    ]);
  });
});

/** A store of one's own: counts in memory (or fails on demand) and records every call. */
class RecordingStore implements RateLimitStore {
  readonly calls: { method: string; clientId: string; policies: string[]; cost?: number }[] = [];
  failing = false;
  private readonly memory = new MemoryRateLimitStore({ clock: redisClock });

  async consume(request: RateLimitStoreRequest): Promise<RateLimitStoreDecision> {
    this.record('consume', request.clientId, request.policies, request.cost);
    if (this.failing) throw new RedisUnavailableError('connection', 'custom');
    return this.memory.consume(request);
  }

  async peek(request: Omit<RateLimitStoreRequest, 'cost'>): Promise<RateLimitStoreDecision> {
    this.record('peek', request.clientId, request.policies);
    return this.memory.peek(request);
  }

  async reset(clientId: string, policies: readonly RateLimitPolicy[]): Promise<void> {
    this.record('reset', clientId, policies);
    await this.memory.reset(clientId, policies);
  }

  close(): void {
    this.memory.close();
  }

  private record(method: string, clientId: string, policies: readonly RateLimitPolicy[], cost?: number): void {
    this.calls.push({ method, clientId, policies: policies.map((policy) => policy.name), cost });
  }
}

describe('a custom store (the store option)', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let url: string;
  const store = new RecordingStore();
  const decisions: RateLimitDecisionEvent[] = [];

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    const limits: RateLimitModuleOptions = { defaultTiers: TIERS, store };
    @Module({
      imports: [
        RedisModule.forRoot({ url: proxy.url, hashSecret: 'extension-e2e', commandTimeoutMs: 2000 }),
        RateLimitModule.forRoot(limits),
      ],
      controllers: [AController],
    })
    class StoreAppModule {}
    app = await listen(StoreAppModule, 'express');
    url = await app.getUrl();
    app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await server?.stop();
    store.close();
  });

  it('is the module store: the guard and the service count in it, and no script reaches Redis', async () => {
    expect(app.get(RateLimitStore)).toBe(store);
    proxy.reset();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(url).get('/a')).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(store.calls).toEqual(
      Array(3).fill({ method: 'consume', clientId: 'ip:127.0.0.1', policies: ['default'], cost: 1 }),
    );
    // The block cache answers the rejected client without asking the store again.
    expect((await request(url).get('/a')).status).toBe(429);
    expect(store.calls).toHaveLength(3);

    const service = app.get(RateLimitService);
    store.calls.length = 0;
    expect(await service.consume('user:42', 'default', 2)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await service.status('user:42')).remaining).toBe(0);
    await service.reset('user:42');
    expect(store.calls).toEqual([
      { method: 'consume', clientId: 'user:42', policies: ['default'], cost: 2 },
      { method: 'peek', clientId: 'user:42', policies: ['default'], cost: undefined },
      { method: 'reset', clientId: 'user:42', policies: ['default'], cost: undefined },
    ]);
    expect(proxy.names().filter((name) => name === 'EVALSHA' || name === 'EVAL')).toEqual([]);
  });

  it('fails like Redis: a RedisUnavailableError from it makes the fallback decide (fail mode open)', async () => {
    await app.get(RateLimitService).reset('ip:127.0.0.1'); // the first test's block
    store.failing = true;
    try {
      const response = await request(url).get('/a');
      expect(response.status).toBe(200);
      expect(decisions.at(-1)).toMatchObject({ clientId: 'ip:127.0.0.1', fallback: true });
    } finally {
      store.failing = false;
    }
  });

  it('works in RateLimitTestingModule too, without Redis', async () => {
    const testingStore = new RecordingStore();
    @Module({
      imports: [RateLimitTestingModule.forRoot({ defaultTiers: TIERS, store: testingStore })],
      controllers: [AController],
    })
    class TestingAppModule {}
    const testing = await listen(TestingAppModule, 'express');
    try {
      const testingUrl = await testing.getUrl();
      expect((await request(testingUrl).get('/a')).status).toBe(200);
      expect(testingStore.calls).toEqual([
        { method: 'consume', clientId: 'ip:127.0.0.1', policies: ['default'], cost: 1 },
      ]);
    } finally {
      await testing.close();
      testingStore.close();
    }
  });
});
