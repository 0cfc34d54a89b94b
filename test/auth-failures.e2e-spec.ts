import type { INestApplication } from '@nestjs/common';
import { RateLimitGuard, RateLimitService } from 'nestjs-redis-shield';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { signToken } from './support/tokens.js';

const JWT_SECRET = 'auth-failures-jwt-secret-0123456789abcdef';
/** The demo's default `AUTH_FAILURES_PER_MINUTE`. */
const FAILURES_PER_MINUTE = 10;

describe.each<HttpAdapterName>(['express', 'fastify'])('failed authentication on %s', (adapter) => {
  let redis: RedisServer;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    redis = await startRedis();
    const result = loadConfig({
      REDIS_URL: redis.url,
      JWT_SECRET,
      IP_HASH_SECRET: 'auth-failures-ip-hash-secret-0123456789ab',
      // Generous default limits: only the auth-failures policy (default 10 per minute) is reached.
      RATE_LIMIT_PER_MINUTE: '10000',
      RATE_LIMIT_PER_HOUR: '100000',
      RATE_LIMIT_BURST: '10000',
      // The test client is the proxy in front of the app: X-Forwarded-For names the client.
      TRUST_PROXY: '127.0.0.1',
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger: false, adapter });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  const from = (address: string, authorization?: string) => {
    const req = request(url).get('/api/v1/models').set('X-Forwarded-For', address);
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };
  const bad = 'Bearer not-a-jwt';
  const good = async (sub: string) => `Bearer ${await signToken(JWT_SECRET, { sub })}`;

  it('answers the 11th bad token from one address 429, then its tokens unverified; other clients are unaffected', async () => {
    const stuffer = '203.0.113.5';
    const failures = [];
    for (let i = 0; i < FAILURES_PER_MINUTE; i++) failures.push(await from(stuffer, bad));
    expect(failures.map((response) => response.status)).toEqual(Array(FAILURES_PER_MINUTE).fill(401));
    expect(failures[0].headers['www-authenticate']).toBe('Bearer error="invalid_token"');

    const over = await from(stuffer, bad);
    expect(over.status).toBe(429);
    expect(over.body).toEqual({
      error: 'Rate limit exceeded',
      message: 'Too many requests. Please try again later.',
      reset_time: expect.any(Number),
      retry_after: Number(over.headers['retry-after']),
    });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Over the limit, the address's tokens are not even verified: a valid one is refused too.
    expect((await from(stuffer, await good('stuffer-victim'))).status).toBe(429);
    // Anonymous requests of that address are the guard's business, under the default policy.
    expect((await from(stuffer)).status).toBe(200);

    // Another client: a good token passes, a bad one is a plain 401 counted against its own budget.
    expect((await from('198.51.100.20', await good('someone-else'))).status).toBe(200);
    expect((await from('198.51.100.21', bad)).status).toBe(401);
  });

  it('counts failures under the id the guard gives the request: an IPv6 client by its /64', async () => {
    for (let i = 1; i <= FAILURES_PER_MINUTE; i++) {
      // Ten addresses of one /64: one client, as the guard keys it.
      expect((await from(`2001:db8:7:1::${i.toString(16)}`, bad)).status).toBe(401);
    }
    expect((await from('2001:db8:7:1::ff', bad)).status).toBe(429);
    expect((await from('2001:db8:7:2::1', bad)).status).toBe(401); // another /64
    // The bucket counted is the one of the client id the guard derives for that network.
    const guardId = app.get(RateLimitGuard).clientIdOfAddress('2001:db8:7:1::abc');
    const standing = await app.get(RateLimitService).status(guardId, 'auth-failures');
    expect(standing).toMatchObject({ policy: 'auth-failures', limit: FAILURES_PER_MINUTE, remaining: 0 });
  });
});
