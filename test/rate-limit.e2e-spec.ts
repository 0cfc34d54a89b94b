import type { INestApplication } from '@nestjs/common';
import { RateLimitService } from 'nestjs-redis-shield';
import { ViolationRecorder } from '../libs/nestjs-redis-shield/src/rate-limit/store/violation-recorder.js';
import { ViolationStream } from '../libs/nestjs-redis-shield/src/rate-limit/store/violation-stream.js';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { startRateLimitApp, TEST_TIERS } from './fixtures/rate-limit-app.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';
import { signToken } from './support/tokens.js';

const BODY_429 =
  /^\{"error":"Rate limit exceeded","message":"Too many requests\. Please try again later\.","reset_time":(\d+),"retry_after":(\d+)\}$/;

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

/** Sends `count` GETs one after another and returns the responses. */
async function hit(url: string, path: string, count: number, headers: Record<string, string> = {}) {
  const responses: request.Response[] = [];
  for (let i = 0; i < count; i++) responses.push(await request(url).get(path).set(headers));
  return responses;
}

const scriptCalls = () => proxy.commands.filter((c) => c.name === 'EVALSHA' || c.name === 'EVAL').length;

describe.each<HttpAdapterName>(['express', 'fastify'])('rate limiting over HTTP on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startRateLimitApp({ adapter, redisUrl: proxy.url });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    await server.command('FLUSHALL');
  });

  describe('headers and the 429', () => {
    it('a 429 reports the admitting tiers as they stand: the rejected request counted nothing', async () => {
      // /list: the default tiers (minute 10, hour 100, burst 5) and strict (2 per minute).
      const responses = await hit(url, '/list', 3);
      expect(responses.map((r) => r.status)).toEqual([200, 200, 429]);
      // Two requests were counted; the rejected third one nothing, in any tier.
      expect(responses[2].headers.ratelimit).toMatch(
        /^"minute";r=8;t=\d+, "hour";r=98;t=\d+, "burst";r=3;t=\d+, "strict.minute";r=0;t=\d+$/,
      );
      expect(responses[2].headers['x-ratelimit-remaining']).toBe('0');
    });

    it("a cost above a tier's limit gets a 429 that says so, without Retry-After, and counts nothing", async () => {
      const response = await request(url).get('/cost/too-much');
      expect(response.status).toBe(429);
      expect(response.headers['retry-after']).toBeUndefined();
      expect(response.body).toEqual({
        error: 'Rate limit exceeded',
        message:
          'This request costs 3 units, more than the 2 per window of tier "minute" of policy "strict": it can never be admitted.',
        cost: 3,
        limit: 2,
      });
      // Nothing was counted: strict still has its whole quota for cheaper requests.
      const list = await request(url).get('/list');
      expect(list.status).toBe(200);
      expect(list.headers.ratelimit).toContain('"strict.minute";r=1');
    });

    it('a cost charged to some policies only: the others count the request once', async () => {
      const response = await request(url).get('/cost/strict-only');
      expect(response.status).toBe(200);
      expect(response.headers.ratelimit).toMatch(
        /^"minute";r=9;t=\d+, "hour";r=99;t=\d+, "burst";r=4;t=\d+, "strict.minute";r=0;t=\d+$/,
      );
    });

    it('admits with X-RateLimit-* of the most restrictive tier and every tier in RateLimit / RateLimit-Policy', async () => {
      const [first] = await hit(url, '/plain', 1);
      expect(first.status).toBe(200);
      expect(first.headers['x-ratelimit-limit']).toBe('5'); // burst: 4 left of 5, the smallest
      expect(first.headers['x-ratelimit-remaining']).toBe('4');
      const reset = Number(first.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));
      expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 10);
      expect(first.headers['ratelimit-policy']).toBe('"minute";q=10;w=60, "hour";q=100;w=3600, "burst";q=5;w=10');
      expect(first.headers.ratelimit).toMatch(/^"minute";r=9;t=\d+, "hour";r=99;t=\d+, "burst";r=4;t=\d+$/);
    });

    it('rejects with the exact body, Retry-After equal to retry_after, and headers of the rejecting tier', async () => {
      const responses = await hit(url, '/plain', TEST_TIERS.burst.limit + 1);
      expect(responses.slice(0, -1).map((r) => r.status)).toEqual(Array(TEST_TIERS.burst.limit).fill(200));
      const rejected = responses.at(-1)!;
      expect(rejected.status).toBe(429);
      expect(rejected.headers['content-type']).toMatch(/^application\/json/);
      const match = BODY_429.exec(rejected.text);
      expect(match).not.toBeNull();
      const [, resetTime, retryAfter] = match!.map(Number);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      // Sliding window: after N requests at the very end of a window, the next request
      // fits once the previous window's weight has dropped by 1/N: up to W·(1 + 1/N).
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil(10 * (1 + 1 / TEST_TIERS.burst.limit)));
      expect(rejected.headers['retry-after']).toBe(String(retryAfter));
      expect(rejected.headers['x-ratelimit-limit']).toBe('5');
      expect(rejected.headers['x-ratelimit-remaining']).toBe('0');
      expect(rejected.headers['x-ratelimit-reset']).toBe(String(resetTime));
      expect(rejected.headers.ratelimit).toMatch(/"burst";r=0;t=\d+$/);
    });
  });

  describe('policy rules', () => {
    it('routes without metadata share the default policy buckets', async () => {
      await hit(url, '/plain', 3);
      const [other] = await hit(url, '/plain/other', 1);
      expect(other.headers['x-ratelimit-remaining']).toBe('1'); // burst 5 - 4
    });

    it('class-level inline tiers replace the same-named default tier and keep the others', async () => {
      const [response] = await hit(url, '/inline/a', 1);
      expect(response.headers['ratelimit-policy']).toBe('"minute";q=3;w=60, "hour";q=100;w=3600, "burst";q=5;w=10');
    });

    it('an inline policy has buckets per handler (<Controller>.<handler>)', async () => {
      const a = await hit(url, '/inline/a', 4);
      expect(a.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect((await hit(url, '/inline/b', 1))[0].status).toBe(200);
      // ...and apart from the default policy's buckets.
      expect((await hit(url, '/plain', 1))[0].headers['x-ratelimit-remaining']).toBe('4');
    });

    it('handler inline tiers apply over the class inline tiers', async () => {
      const responses = await hit(url, '/inline/handler', 3);
      expect(responses[0].headers['ratelimit-policy']).toBe('"minute";q=3;w=60, "hour";q=100;w=3600, "burst";q=2;w=10');
      expect(responses.map((r) => r.status)).toEqual([200, 200, 429]);
    });

    it('a named policy on the handler overrides the class', async () => {
      const responses = await hit(url, '/inline/named', 3);
      expect(responses[0].headers['ratelimit-policy']).toBe('"minute";q=2;w=60');
      expect(responses.map((r) => r.status)).toEqual([200, 200, 429]);
    });

    it('a list applies every policy: the strictest decides, all are reported', async () => {
      const responses = await hit(url, '/list', 3);
      expect(responses[0].headers['ratelimit-policy']).toBe(
        '"minute";q=10;w=60, "hour";q=100;w=3600, "burst";q=5;w=10, "strict.minute";q=2;w=60',
      );
      expect(responses.map((r) => r.status)).toEqual([200, 200, 429]);
      // The rejection counted nothing in the default policy: 2 of 5 burst used.
      expect((await hit(url, '/plain', 1))[0].headers['x-ratelimit-remaining']).toBe('2');
    });

    it('@SkipRateLimit on a class exempts it without touching Redis; @SkipRateLimit(false) re-enables a handler', async () => {
      const before = scriptCalls();
      const skipped = await hit(url, '/skipped', 8);
      expect(skipped.every((r) => r.status === 200 && r.headers['x-ratelimit-limit'] === undefined)).toBe(true);
      expect(scriptCalls()).toBe(before);
      const [on] = await hit(url, '/skipped/on', 1);
      expect(on.headers['x-ratelimit-limit']).toBe('5');
      expect(scriptCalls()).toBe(before + 1);
    });

    it('a shadow policy over its limit still answers 2xx and stays out of the headers', async () => {
      const responses = await hit(url, '/shadow', 3);
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(responses[2].headers['ratelimit-policy']).toBe(
        '"minute";q=10;w=60, "hour";q=100;w=3600, "burst";q=5;w=10',
      );
      expect(responses[2].headers.ratelimit).not.toContain('trial');
      // ...but its would-be rejections (the 2nd and 3rd request, limit 1) reach the violation stream.
      await app.get(ViolationRecorder).flush();
      const recorded = (await app.get(ViolationStream).recent({ limit: 1000 })).filter(
        (violation) => violation.route === '/shadow',
      );
      // Counted per client and flush interval: one entry, or two if a flush fell in between.
      expect(new Set(recorded.map(({ policy, tier, shadow }) => JSON.stringify({ policy, tier, shadow })))).toEqual(
        new Set([JSON.stringify({ policy: 'trial', tier: 'minute', shadow: true })]),
      );
      expect(recorded.reduce((sum, violation) => sum + violation.count, 0)).toBe(2);
    });
  });

  describe('client identity', () => {
    it('a spoofed X-Forwarded-For gets no fresh bucket while trust proxy is off', async () => {
      const responses: request.Response[] = [];
      for (let i = 0; i < 6; i++)
        responses.push((await hit(url, '/plain', 1, { 'X-Forwarded-For': `198.51.100.${i}` }))[0]);
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    });
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('behind a trusted proxy on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startRateLimitApp({
      adapter,
      redisUrl: proxy.url,
      trustProxy: true,
      limits: { allowlist: ['203.0.113.0/24'] },
    });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    await server.command('FLUSHALL');
  });

  const remainingFor = async (forwardedFor: string) =>
    (await hit(url, '/plain', 1, { 'X-Forwarded-For': forwardedFor }))[0].headers['x-ratelimit-remaining'];

  it('distinct forwarded clients get distinct buckets', async () => {
    expect(await remainingFor('198.51.100.1')).toBe('4');
    expect(await remainingFor('198.51.100.1')).toBe('3');
    expect(await remainingFor('198.51.100.2')).toBe('4');
  });

  it('an IPv4-mapped address shares the IPv4 bucket; one IPv6 /64 is one bucket', async () => {
    expect(await remainingFor('1.2.3.4')).toBe('4');
    expect(await remainingFor('::ffff:1.2.3.4')).toBe('3');
    expect(await remainingFor('2001:db8:1:2::1')).toBe('4');
    expect(await remainingFor('2001:db8:1:2:ffff::9')).toBe('3');
    expect(await remainingFor('2001:db8:1:3::1')).toBe('4');
  });

  it('proxy-decorated and embedded forms of one IPv4 share its bucket; two IPv6 /64s do not', async () => {
    expect(await remainingFor('::ffff:192.0.2.9')).toBe('4');
    expect(await remainingFor('192.0.2.9:4444')).toBe('3');
    expect(await remainingFor('[::ffff:192.0.2.9]:443')).toBe('2');
    expect(await remainingFor('64:ff9b::192.0.2.9')).toBe('1');
    expect(await remainingFor('64:ff9b::192.0.2.10')).toBe('4');
    expect(await remainingFor('2001:db8:1:2::7')).toBe('4');
    expect(await remainingFor('2001:db8:1:3::7')).toBe('4');
  });

  it('a forwarded value that is not an IP address is keyed by the connecting address, not by its text', async () => {
    expect(await remainingFor('not-an-ip')).toBe('4');
    expect(await remainingFor('010.0.0.1')).toBe('3');
    // No X-Forwarded-For: the connecting (loopback) address, the same bucket.
    expect((await hit(url, '/plain', 1))[0].headers['x-ratelimit-remaining']).toBe('2');
  });

  it('allowlisted clients are matched with ports and embedded IPv4 too', async () => {
    for (const forwardedFor of ['203.0.113.9:4444', '[::ffff:203.0.113.9]:443', '64:ff9b::203.0.113.9']) {
      const [response] = await hit(url, '/plain', 1, { 'X-Forwarded-For': forwardedFor });
      expect([forwardedFor, response.status, response.headers['x-ratelimit-limit']]).toEqual([
        forwardedFor,
        200,
        undefined,
      ]);
    }
  });

  it('allowlisted clients are never limited and never reach Redis', async () => {
    const before = scriptCalls();
    const responses = await hit(url, '/plain', 8, { 'X-Forwarded-For': '203.0.113.50' });
    expect(responses.every((r) => r.status === 200 && r.headers['x-ratelimit-limit'] === undefined)).toBe(true);
    expect(scriptCalls()).toBe(before);
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('demo plans and costs on %s', (adapter) => {
  const JWT_SECRET = 'plans-e2e-jwt-secret-0123456789abcdef012345';
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    const result = loadConfig({
      REDIS_URL: proxy.url,
      JWT_SECRET,
      IP_HASH_SECRET: 'plans-e2e-ip-hash-secret-0123456789abcdef',
      RATE_LIMIT_BURST: '3',
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger: false, adapter });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    await server.command('FLUSHALL');
  });

  it('free and pro users get their plan limits', async () => {
    const free = `Bearer ${await signToken(JWT_SECRET, { sub: 'free-user' })}`;
    const pro = `Bearer ${await signToken(JWT_SECRET, { sub: 'pro-user', plan: 'pro' })}`;
    const freeResponses = await hit(url, '/api/v1/models', 4, { Authorization: free });
    expect(freeResponses[0].headers['x-ratelimit-limit']).toBe('3');
    expect(freeResponses.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    const proResponses = await hit(url, '/api/v1/models', 4, { Authorization: pro });
    expect(proResponses[0].headers['x-ratelimit-limit']).toBe('30');
    expect(proResponses[0].headers['ratelimit-policy']).toBe(
      '"minute";q=600;w=60, "hour";q=10000;w=3600, "burst";q=30;w=10',
    );
    expect(proResponses.every((r) => r.status === 200)).toBe(true);
  });

  it('completions cost 1 + floor(max_tokens / 1000) in the completions policy (10 per minute)', async () => {
    const token = `Bearer ${await signToken(JWT_SECRET, { sub: 'writer', plan: 'pro' })}`;
    const post = (maxTokens: number) =>
      request(url)
        .post('/api/v1/completions')
        .set('Authorization', token)
        .send({ prompt: 'hi', max_tokens: maxTokens });
    const first = await post(4500); // cost 5
    expect(first.status).toBe(200);
    expect(first.headers.ratelimit).toMatch(/"completions\.minute";r=5;t=\d+$/);
    expect((await post(4999)).status).toBe(200); // cost 5 → 0 left
    const rejected = await post(100); // cost 1
    expect(rejected.status).toBe(429);
    expect(BODY_429.test(rejected.text)).toBe(true);
  });

  it('/health is never limited', async () => {
    const responses = await hit(url, '/api/v1/health', 6);
    expect(responses.every((r) => r.status === 200 && r.headers['x-ratelimit-limit'] === undefined)).toBe(true);
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('local block cache on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startRateLimitApp({ adapter, redisUrl: proxy.url, limits: { localBlockCache: {} } });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('answers a client over its limit without Redis until its retry time, with the same headers', async () => {
    await server.command('FLUSHALL');
    proxy.reset();
    const responses = await hit(url, '/plain', TEST_TIERS.burst.limit + 20);
    expect(responses.map((r) => r.status)).toEqual([...Array(5).fill(200), ...Array(20).fill(429)]);
    // Five admissions and the first rejection asked Redis; the other 19 did not.
    expect(scriptCalls()).toBe(TEST_TIERS.burst.limit + 1);
    const first = responses[5];
    const last = responses.at(-1)!;
    for (const rejected of [first, last]) {
      expect(BODY_429.test(rejected.text)).toBe(true);
      expect(rejected.headers['x-ratelimit-remaining']).toBe('0');
      expect(rejected.headers.ratelimit).toMatch(/"burst";r=0;t=\d+$/);
    }
    expect(last.headers['ratelimit-policy']).toBe(first.headers['ratelimit-policy']);
    expect(Number(last.headers['retry-after'])).toBeLessThanOrEqual(Number(first.headers['retry-after']));
    expect(Number(last.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('a burst from a client at its limit asks Redis once: the others wait for that rejection', async () => {
    await server.command('FLUSHALL');
    await app.get(RateLimitService).reset('ip:127.0.0.1'); // the previous test's local block
    // Exhausted one by one: the fifth admission leaves nothing remaining.
    expect((await hit(url, '/plain', TEST_TIERS.burst.limit)).map((r) => r.status)).toEqual(Array(5).fill(200));
    proxy.reset();
    const burst = await Promise.all(Array.from({ length: 30 }, () => request(url).get('/plain')));
    expect(burst.map((r) => r.status)).toEqual(Array(30).fill(429));
    expect(scriptCalls()).toBe(1);
    for (const rejected of burst) expect(Number(rejected.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('is cleared by a reset of the client on this instance', async () => {
    await server.command('FLUSHALL');
    await hit(url, '/plain', TEST_TIERS.burst.limit + 1);
    proxy.reset();
    await app.get(RateLimitService).reset('ip:127.0.0.1');
    const [after] = await hit(url, '/plain', 1);
    expect(after.status).toBe(200);
    expect(scriptCalls()).toBe(1);
  });
});
