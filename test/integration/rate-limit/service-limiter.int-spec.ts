import { type RateLimitDecisionEvent, RedisUnavailableError, ShieldEvents } from 'nestjs-redis-shield';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from '../../harness/index.js';
import { waitFor } from '../../support/wait-for.js';
import { type LimiterApp, startLimiter } from './setup.js';

// RateLimitService goes through the guard's RateLimiter: the local block cache answers a
// client over its limit, and while Redis is down the fail mode decides (open: this
// instance's memory; closed: the typed Redis error). Real redis-server, commands counted
// at a proxy.

const TIERS = { minute: { limit: 3, windowMs: 60_000 } };

describe('RateLimitService through the limiter (fail mode open)', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let limiter: LimiterApp;
  const decisions: RateLimitDecisionEvent[] = [];

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    limiter = await startLimiter({ url: proxy.url }, { defaultTiers: TIERS });
    limiter.app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
  });

  afterAll(async () => {
    await limiter?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('answers a client over its limit from the block cache, without Redis, until a reset', async () => {
    const client = 'user:blocked';
    for (let i = 0; i < 3; i++) expect((await limiter.service.consume(client)).allowed).toBe(true);
    proxy.reset();
    expect(await limiter.service.consume(client)).toMatchObject({ allowed: false, tier: 'minute' });
    expect(proxy.names()).toEqual(['EVALSHA']);
    proxy.reset();
    for (let i = 0; i < 5; i++) {
      const repeated = await limiter.service.consume(client);
      expect(repeated).toMatchObject({ allowed: false, tier: 'minute', remaining: 0 });
      expect(repeated.retryAfterMs).toBeGreaterThan(0);
    }
    expect(proxy.names()).toEqual([]);
    // A reset drops the block: the next call asks Redis again, and is admitted.
    await limiter.service.reset(client);
    proxy.reset();
    expect(await limiter.service.consume(client)).toMatchObject({ allowed: true, remaining: 2 });
    expect(proxy.names()).toEqual(['EVALSHA']);
    // Calls outside HTTP are not reported as guard decisions (no route, no metrics).
    expect(decisions).toEqual([]);
  });

  it('counts in memory while Redis is down, keeps a client Redis rejected rejected, and returns to Redis', async () => {
    const rejected = 'user:rejected-before-outage';
    const fresh = 'user:fresh-in-outage';
    for (let i = 0; i < 3; i++) await limiter.service.consume(rejected);
    expect((await limiter.service.consume(rejected)).allowed).toBe(false);
    await limiter.service.consume(fresh); // one unit in Redis before the outage

    await server.kill();
    await waitFor(() => limiter.connection.state === 'down', 5000, 'the connection to go down');
    // Never a fresh per-instance quota for a client Redis rejected.
    expect(await limiter.service.consume(rejected)).toMatchObject({ allowed: false, tier: 'minute' });
    // Others are counted in this instance's memory (which knows nothing of Redis's unit)...
    expect(await limiter.service.consume(fresh)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await limiter.service.consume(fresh)).toMatchObject({ allowed: true, remaining: 1 });
    // ... and status reads that standing instead of failing.
    expect(await limiter.service.status(fresh)).toMatchObject({ allowed: true, remaining: 1 });

    await server.restart();
    await waitFor(() => limiter.connection.state === 'ready', 10_000, 'the connection to come back');
    // Redis decides again (restarted without persistence: a fresh bucket), not the fallback (0 left).
    expect(await limiter.service.consume(fresh)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await limiter.service.status(fresh)).toMatchObject({ remaining: 2 });
  }, 30_000);
});

describe('RateLimitService through the limiter (fail mode closed)', () => {
  let server: RedisServer;
  let limiter: LimiterApp;

  beforeAll(async () => {
    server = await startRedis();
    limiter = await startLimiter({ url: server.url }, { defaultTiers: TIERS, limits: { failMode: 'closed' } });
  });

  afterAll(async () => {
    await limiter?.close();
    await server?.stop();
  });

  it('throws the typed Redis error while Redis is down (never a denial); status reads the fallback', async () => {
    expect((await limiter.service.consume('user:closed')).allowed).toBe(true);
    await server.kill();
    await expect(limiter.service.consume('user:closed')).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(await limiter.service.status('user:closed')).toMatchObject({ allowed: true, remaining: 3 });
    await server.restart();
  });
});
