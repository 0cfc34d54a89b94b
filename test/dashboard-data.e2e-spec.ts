import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { signToken } from './support/tokens.js';
import type { DecisionCount } from '../libs/nestjs-redis-shield/src/system-api/engine/dashboard-counts.js';
import type { DashboardData } from '../libs/nestjs-redis-shield/src/system-api/engine/dashboard-data.js';

// The dashboard's endpoints over HTTP, two demo instances sharing one redis-server: the data
// sums both instances' counts and lists both, a client rejected on one is listed by its HMAC
// on the other and reset through it, the page and its assets carry the CSP and are never
// refused by the limiter, and a stalled Redis gives a degraded 200, never an error.

const JWT_SECRET = 'dashboard-data-e2e-jwt-secret-0123456789ab';
const DATA = '/api/v1/system/dashboard/data';
const HMAC = /^[A-Za-z0-9_-]{22}$/;

async function startDemo(redisUrl: string, adapter: HttpAdapterName): Promise<INestApplication> {
  const result = loadConfig({
    JWT_SECRET,
    IP_HASH_SECRET: 'dashboard-data-e2e-ip-hash-secret-012345678',
    REDIS_URL: redisUrl,
    RATE_LIMIT_PER_MINUTE: '1000',
    RATE_LIMIT_PER_HOUR: '100000',
    RATE_LIMIT_BURST: '1000',
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const app = await createApp(result.config, { logger: false, adapter });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<HttpAdapterName>(['express', 'fastify'])('dashboard endpoints on %s', (adapter) => {
  let redis: RedisServer;
  let first: INestApplication;
  let second: INestApplication;
  let firstUrl: string;
  let secondUrl: string;
  let admin: string;

  beforeAll(async () => {
    redis = await startRedis();
    [first, second] = await Promise.all([startDemo(redis.url, adapter), startDemo(redis.url, adapter)]);
    [firstUrl, secondUrl] = await Promise.all([first.getUrl(), second.getUrl()]);
    admin = await signToken(JWT_SECRET, { sub: 'operator', roles: ['admin'] });
  });

  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()]);
    await redis?.stop();
  });

  const data = (url: string) => request(url).get(DATA).set('Authorization', `Bearer ${admin}`);
  /** The data as soon as `ready` holds of it (polled every 100 ms, for at most 5 s: flushes are once a second). */
  async function dataWhen(url: string, ready: (body: DashboardData) => boolean): Promise<DashboardData> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const body = (await data(url).expect(200)).body as DashboardData;
      if (ready(body) || Date.now() > deadline) return body;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const minuteRow = (rows: DecisionCount[]) => rows.find((row) => row.policy === 'default' && row.tier === 'minute');
  const complete = (url: string) =>
    request(url).post('/api/v1/completions').send({ prompt: 'hello', max_tokens: 9000 });

  it('keeps the data for admins: 401 without a token, 403 for a user who is not an admin', async () => {
    await request(firstUrl).get(DATA).expect(401);
    const user = await signToken(JWT_SECRET, { sub: 'someone', roles: [] });
    await request(firstUrl).get(DATA).set('Authorization', `Bearer ${user}`).expect(403);
  });

  it('sums the decisions and cache lookups of both instances and lists both instances', async () => {
    const before = (await data(firstUrl).expect(200)).body as { decisions: DecisionCount[] };
    const allowedBefore = minuteRow(before.decisions)?.allowed ?? 0;
    for (let i = 0; i < 3; i += 1) await request(firstUrl).get('/api/v1/models').expect(200);
    for (let i = 0; i < 4; i += 1) await request(secondUrl).get('/api/v1/models').expect(200);
    // The second instance adds its counts within a second; the first flushes its own when asked.
    // (Waiting on the cache counts: the polling data calls add allowed decisions of their own.)
    const modelsLookups = (data: DashboardData) => {
      const row = data.cache?.routes.find((route) => route.route === '/api/v1/models');
      return row ? row.hit + row.stale + row.miss : 0;
    };
    const body = await dataWhen(firstUrl, (data) => modelsLookups(data) >= 7);
    expect(body.degraded).toBe(false);
    expect(body.redis_unreachable_since).toBeNull();
    // 7 requests, plus the data call before (counted too: the system API is limited).
    expect(minuteRow(body.decisions!)!.allowed).toBeGreaterThanOrEqual(allowedBefore + 7);
    const cache = body.cache!;
    expect(modelsLookups(body)).toBe(7);
    expect(cache.layers.miss).toBeGreaterThanOrEqual(1);
    expect(cache.hit_ratio).toBeGreaterThan(0);
    expect(body.instances).toHaveLength(2);
    expect(body.instances.filter((instance) => instance.current)).toHaveLength(1);
    expect(body.connections).toEqual([
      expect.objectContaining({ name: 'default', state: 'ready', breaker: 'closed', latency_ms: expect.any(Number) }),
    ]);
    expect(body.fallback_active).toBe(false);
    // Its one key lives a day past the last flush, like every key of the library.
    const ttl = Number(await redis.command('PTTL', 'dashboard:counts'));
    expect(ttl).toBeGreaterThan(23 * 3_600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3_600_000);
  });

  it('lists a client rejected on one instance by its HMAC and resets it through the other', async () => {
    await complete(secondUrl).expect(200);
    await complete(secondUrl).expect(429);
    // The violation stream is flushed within a second.
    const { top_rejected } = await dataWhen(firstUrl, (data) => (data.top_rejected?.length ?? 0) > 0);
    expect(top_rejected).toHaveLength(1);
    const [client] = top_rejected!;
    expect(client.client).toBe(`ip:${client.hash}`);
    expect(client.hash).toMatch(HMAC);
    expect(JSON.stringify(top_rejected)).not.toContain('127.0.0.1');

    await request(firstUrl)
      .delete(`/api/v1/system/rate-limit/clients/hmac:${client.hash}`)
      .set('Authorization', `Bearer ${admin}`)
      .expect(200, { reset: true });
    // The second instance's local block goes with the bus message (within a second).
    const deadline = Date.now() + 2000;
    let status = 429;
    while (status === 429 && Date.now() < deadline) {
      status = (await complete(secondUrl)).status;
      if (status === 429) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });

  it('answers 400 for an hmac: that is no HMAC', async () => {
    const response = await request(firstUrl)
      .delete('/api/v1/system/rate-limit/clients/hmac:not-an-hmac')
      .set('Authorization', `Bearer ${admin}`)
      .expect(400);
    expect(JSON.stringify(response.body)).toContain('needs the 22-character HMAC');
  });

  it('serves the page and its assets with the CSP, unlimited, and names the assets under its own path', async () => {
    // Block this address first: the page must still load for an operator behind it.
    await complete(firstUrl);
    await complete(firstUrl).expect(429);
    const page = await request(firstUrl).get('/api/v1/system/dashboard').expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(page.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(page.text).toContain('src="/api/v1/system/dashboard/app.js"');
    expect(page.text).not.toMatch(/<script>(?!<\/script>)/); // no inline script
    const script = await request(firstUrl).get('/api/v1/system/dashboard/app.js').expect(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.text).toContain("fetch(base + '/data'");
    const css = await request(firstUrl).get('/api/v1/system/dashboard/app.css').expect(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
  });

  it('answers 200 with degraded and the outage start while Redis stalls, never an error', async () => {
    await redis.stall();
    try {
      const started = Date.now();
      const body = (await data(firstUrl).expect(200)).body;
      expect(Date.now() - started).toBeLessThan(5000);
      expect(body.degraded).toBe(true);
      expect(Date.parse(body.redis_unreachable_since)).toBeLessThanOrEqual(Date.now());
      expect(body.decisions).toBeNull();
      expect(body.cache).toBeNull();
      expect(body.top_rejected).toBeNull();
      expect(body.instances).toEqual([expect.objectContaining({ current: true })]);
    } finally {
      await redis.resume();
    }
  });
});
