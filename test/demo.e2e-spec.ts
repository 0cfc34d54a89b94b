import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { RedisConnection } from 'nestjs-redis-shield';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { startBuiltDemo } from './support/built-demo.js';
import { CaptureLogger } from './support/capture-logger.js';
import { signToken } from './support/tokens.js';
import { waitFor } from './support/wait-for.js';

const JWT_SECRET = 'e2e-jwt-secret-0123456789abcdef0123456789';
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Boots the demo on a free port with the given environment (plus test secrets). */
async function startDemo(
  env: Record<string, string>,
  logger: CaptureLogger | false = false,
  adapter: HttpAdapterName = 'express',
) {
  const result = loadConfig({
    JWT_SECRET,
    IP_HASH_SECRET: 'e2e-ip-hash-secret-0123456789abcdef0123',
    // Generous limits: these tests are about routes and auth, not limits.
    RATE_LIMIT_PER_MINUTE: '10000',
    RATE_LIMIT_PER_HOUR: '100000',
    RATE_LIMIT_BURST: '10000',
    // These tests send dozens of bad tokens from one address (see auth-failures.e2e-spec.ts for the limit).
    AUTH_FAILURES_PER_MINUTE: '10000',
    ...env,
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const app = await createApp(result.config, { logger, adapter });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<HttpAdapterName>(['express', 'fastify'])('demo API on %s', (adapter) => {
  let app: INestApplication;
  let url: string;
  let redis: RedisServer;
  const logger = new CaptureLogger();

  beforeAll(async () => {
    redis = await startRedis();
    app = await startDemo({ REDIS_URL: redis.url }, logger, adapter);
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  const redisState = () => app.get(RedisConnection).state;
  const usageLines = () => logger.of('Usage').map((line) => line.message);

  /** Sends a request and returns it with the usage-log lines it produced. */
  async function logged(send: () => request.Test) {
    const before = usageLines().length;
    const response = await send();
    await waitFor(() => usageLines().length > before, 2000, 'the usage log line');
    await new Promise((resolve) => setTimeout(resolve, 20)); // a second line would arrive now
    return { response, lines: usageLines().slice(before) };
  }

  describe('routes', () => {
    it('GET /api/v1/models lists models with generated_at; a repeat is the stored response', async () => {
      const response = await request(url).get('/api/v1/models').expect(200);
      expect(['MISS', 'HIT']).toContain(response.headers['x-cache-status']);
      await app.get(ResponseCacheWriter).flush();
      const again = await request(url).get('/api/v1/models').expect(200);
      expect(again.headers['x-cache-status']).toBe('HIT');
      expect(again.body.generated_at).toBe(response.body.generated_at);
      expect(response.body.data.length).toBeGreaterThan(0);
      expect(response.body.data[0]).toEqual(expect.objectContaining({ id: expect.any(String) }));
      expect(response.body.generated_at).toMatch(ISO_MS);
    });

    it('GET /api/v1/models/:id answers one model, 404 for an unknown id', async () => {
      const response = await request(url).get('/api/v1/models/gpt-4').expect(200);
      expect(response.body).toMatchObject({ id: 'gpt-4', generated_at: expect.stringMatching(ISO_MS) });
      await request(url).get('/api/v1/models/no-such-model').expect(404);
    });

    it('GET /api/v1/analytics/usage needs a user and answers their own usage', async () => {
      await request(url).get('/api/v1/analytics/usage').expect(401);
      const token = await signToken(JWT_SECRET, { sub: 'alice', plan: 'pro' });
      await request(url)
        .post('/api/v1/completions')
        .set('Authorization', `Bearer ${token}`)
        .send({ prompt: 'hello', max_tokens: 1500 })
        .expect(200);
      const response = await request(url)
        .get('/api/v1/analytics/usage')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      expect(response.body).toEqual({
        user_id: 'alice',
        plan: 'pro',
        completions: 1,
        tokens_requested: 1500,
        generated_at: expect.stringMatching(ISO_MS),
      });
    });

    it('POST /api/v1/completions answers a completion and validates its body', async () => {
      const response = await request(url).post('/api/v1/completions').send({ prompt: 'Say hi' }).expect(200);
      expect(response.body).toMatchObject({ object: 'text_completion', choices: [{ text: expect.any(String) }] });
      const bad = await request(url).post('/api/v1/completions').send({ max_tokens: 0 }).expect(400);
      expect(JSON.stringify(bad.body.message)).toMatch(/prompt/);
      expect(JSON.stringify(bad.body.message)).toMatch(/max_tokens/);
      await request(url).post('/api/v1/completions').send({ prompt: 'x', extra: 1 }).expect(400);
    });

    it('POST /api/v1/completions charges its token cost to the completions policy only; every valid body can pass', async () => {
      const token = await signToken(JWT_SECRET, { sub: 'cost-user' });
      const post = (maxTokens: number) =>
        request(url)
          .post('/api/v1/completions')
          .set('Authorization', `Bearer ${token}`)
          .send({ prompt: 'hello', max_tokens: maxTokens });
      // The largest valid body costs 10 units of completions (10 per minute) and 1 of the default policy.
      const largest = await post(9999).expect(200);
      const minuteLimit = Number(/"minute";q=(\d+)/.exec(largest.headers['ratelimit-policy'])?.[1]);
      expect(largest.headers.ratelimit).toMatch(
        new RegExp(`^"minute";r=${minuteLimit - 1};.*"completions\\.minute";r=0;`),
      );
      // One more token would cost 11: refused by validation (another client, whose quota is untouched).
      const over = await request(url)
        .post('/api/v1/completions')
        .set('Authorization', `Bearer ${await signToken(JWT_SECRET, { sub: 'cost-user-2' })}`)
        .send({ prompt: 'hello', max_tokens: 10_000 })
        .expect(400);
      expect(JSON.stringify(over.body.message)).toMatch(/max_tokens/);
    });

    it('POST /graphql answers models, and a completion costs the completions policy as over REST', async () => {
      const models = await request(url).post('/graphql').send({ query: '{ models { id contextWindow } }' }).expect(200);
      expect(models.body.data.models).toContainEqual({ id: 'gpt-4', contextWindow: 8192 });
      expect(models.headers['x-ratelimit-limit']).toBeDefined();
      // The bearer token is read by the same middleware as REST: the user, not the address, is limited.
      const token = await signToken(JWT_SECRET, { sub: 'graphql-user' });
      const completion = (maxTokens: number) =>
        request(url)
          .post('/graphql')
          .set('Authorization', `Bearer ${token}`)
          .send({
            query: `mutation { completion(prompt: "hello there", maxTokens: ${maxTokens}) { text maxTokens } }`,
          });
      const largest = await completion(9999).expect(200);
      expect(largest.body).toEqual({ data: { completion: { text: 'Echo: hello there', maxTokens: 9999 } } });
      expect(largest.headers.ratelimit).toMatch(/"completions\.minute";r=0;/);
      // 10 units used: the next completion is refused, over GraphQL and over REST alike (one bucket).
      const refused = await completion(1).expect(200);
      expect(refused.body.errors[0]).toMatchObject({
        message: 'Too many requests. Please try again later.',
        extensions: { code: 'RATE_LIMITED', policy: 'completions', tier: 'minute', retryAfter: expect.any(Number) },
      });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      await request(url)
        .post('/api/v1/completions')
        .set('Authorization', `Bearer ${token}`)
        .send({ prompt: 'hello' })
        .expect(429);
    });

    it('GET /api/v1/analytics/usage is cached per user and per plan: a changed plan is a fresh entry', async () => {
      const usage = async (plan: string) =>
        request(url)
          .get('/api/v1/analytics/usage')
          .set('Authorization', `Bearer ${await signToken(JWT_SECRET, { sub: 'plan-changer', plan })}`)
          .expect(200);
      expect((await usage('free')).headers['x-cache-status']).toBe('MISS');
      await app.get(ResponseCacheWriter).flush();
      expect((await usage('free')).headers['x-cache-status']).toBe('HIT');
      const pro = await usage('pro');
      expect([pro.headers['x-cache-status'], pro.body.plan]).toEqual(['MISS', 'pro']);
    });

    it('GET /api/v1/health is ok with Redis up', async () => {
      await waitFor(() => redisState() === 'ready', 5000, 'the Redis connection');
      const response = await request(url).get('/api/v1/health').expect(200);
      expect(response.headers['x-cache-status']).toBeUndefined(); // never cached
      expect(response.body).toEqual({
        status: 'ok',
        redis: { status: 'up', latency_ms: expect.any(Number), age_ms: expect.any(Number) },
        fallback: false,
        generated_at: expect.stringMatching(ISO_MS),
      });
    });

    it('GET /api/v1/health is degraded (200, fallback) with Redis stopped, ok again after restart', async () => {
      await redis.kill();
      await waitFor(() => redisState() === 'down', 2000, 'the connection to go down');
      const started = Date.now();
      const response = await request(url).get('/api/v1/health').expect(200);
      expect(Date.now() - started).toBeLessThan(500);
      expect(response.body).toMatchObject({
        status: 'degraded',
        redis: { status: 'down', latency_ms: null },
        fallback: true,
      });
      await request(url).get('/api/v1/models').expect(200); // the API keeps serving
      await redis.restart();
      await waitFor(() => redisState() === 'ready', 5000, 'reconnection');
      await request(url)
        .get('/api/v1/health')
        .expect(200)
        .expect((res) => expect(res.body.status).toBe('ok'));
    }, 20_000);
  });

  describe('authentication middleware', () => {
    it('treats a request without a token as anonymous', async () => {
      await request(url).get('/api/v1/models').expect(200);
      const response = await request(url).get('/api/v1/analytics/usage').expect(401);
      expect(response.body.message).toBe('Authentication required');
    });

    it('maps sub, roles and plan onto request.user', async () => {
      const token = await signToken(JWT_SECRET, { sub: 'bob', roles: ['admin'] });
      const response = await request(url)
        .get('/api/v1/analytics/usage')
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      expect(response.body).toMatchObject({ user_id: 'bob', plan: 'free' });
    });

    const noneToken = [
      Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url'),
      Buffer.from(`{"sub":"mallory","exp":${Math.floor(Date.now() / 1000) + 3600}}`).toString('base64url'),
      '',
    ].join('.');

    it.each<[string, () => Promise<string>]>([
      ['garbage', async () => 'Bearer garbage'],
      ['a malformed scheme', async () => 'Basic dXNlcjpwYXNz'],
      ['an empty bearer', async () => 'Bearer '],
      ['a wrong signature', async () => `Bearer ${await signToken('not-the-secret-at-all-0123456789', { sub: 'x' })}`],
      ['an expired token', async () => `Bearer ${await signToken(JWT_SECRET, { sub: 'x' }, { expiresIn: 0 })}`],
      ['alg none', async () => `Bearer ${noneToken}`],
      ['no subject', async () => `Bearer ${await signToken(JWT_SECRET, { roles: ['admin'] })}`],
    ])('answers 401 (never 5xx) to %s, on every route', async (_name, header) => {
      const authorization = await header();
      for (const path of ['/api/v1/models', '/api/v1/health', '/api/v1/analytics/usage', '/api/v1/nowhere']) {
        const response = await request(url).get(path).set('Authorization', authorization);
        expect(response.status).toBe(401);
        expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
        expect(response.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      }
    });

    it('says when a token has expired', async () => {
      const token = await signToken(JWT_SECRET, { sub: 'x' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
      const response = await request(url).get('/api/v1/models').set('Authorization', `Bearer ${token}`).expect(401);
      expect(response.body.message).toBe('Token expired');
    });
  });

  describe('usage log', () => {
    it('writes exactly one line for a 401 from the auth middleware', async () => {
      const { lines } = await logged(() =>
        request(url).get('/api/v1/models/gpt-4').set('Authorization', 'Bearer garbage').expect(401),
      );
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^GET - 401 client=ip:[A-Za-z0-9_-]{22} \d+\.\dms cache=-$/);
    });

    it('writes exactly one line for a 404 of an unknown route and of an unknown model', async () => {
      const unknownRoute = await logged(() => request(url).get('/api/v1/no/such/route?token=abc').expect(404));
      expect(unknownRoute.lines).toHaveLength(1);
      expect(unknownRoute.lines[0]).toMatch(/^GET - 404 client=ip:/);
      const unknownModel = await logged(() => request(url).get('/api/v1/models/nope').expect(404));
      expect(unknownModel.lines).toEqual([expect.stringMatching(/^GET \/api\/v1\/models\/:id 404 client=ip:/)]);
    });

    it('logs the route template and a hashed user, never the raw IP, user id, token or path', async () => {
      const token = await signToken(JWT_SECRET, { sub: 'carol-the-user' });
      const { lines } = await logged(() =>
        request(url).get('/api/v1/models/gpt-4?secret=s3cr3t').set('Authorization', `Bearer ${token}`).expect(200),
      );
      expect(lines).toEqual([expect.stringMatching(/^GET \/api\/v1\/models\/:id 200 client=user:[A-Za-z0-9_-]{22} /)]);
      const everything = logger.lines.map((line) => line.message).join('\n');
      for (const leak of ['127.0.0.1', 'carol-the-user', token, 'gpt-4?', 's3cr3t', 'garbage']) {
        expect(everything).not.toContain(leak);
      }
    });
  });
});

describe('demo API without Redis', () => {
  it('starts, serves and reports degraded in open mode; 503 health in closed mode', async () => {
    const logger = new CaptureLogger();
    const open = await startDemo({ REDIS_URL: 'redis://127.0.0.1:1' }, logger);
    try {
      await request(await open.getUrl())
        .get('/api/v1/models')
        .expect(200);
      const health = await request(await open.getUrl())
        .get('/api/v1/health')
        .expect(200);
      expect(health.body).toMatchObject({ status: 'degraded', fallback: true, redis: { status: 'down' } });
      await waitFor(() => logger.lines.some((line) => line.level === 'warn' && /unreachable/.test(line.message)));
    } finally {
      await open.close();
    }
    const closed = await startDemo({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_FAIL_MODE: 'closed' });
    try {
      const health = await request(await closed.getUrl())
        .get('/api/v1/health')
        .expect(503);
      expect(health.body).toMatchObject({ status: 'degraded', fallback: false, redis: { status: 'down' } });
    } finally {
      await closed.close();
    }
  });
});

describe('the built demo, as the README shows it with curl', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('GET /api/v1/models answers MISS, HIT, then STALE past its TTL while refreshed, then HIT again', async () => {
    const demo = await startBuiltDemo(15_000, { REDIS_URL: redis.url, CACHE_TTL_MODELS: '1' });
    try {
      const get = async () => {
        const response = await fetch(`${demo.url}/api/v1/models`);
        await response.arrayBuffer();
        return [response.status, response.headers.get('x-cache-status'), Number(response.headers.get('age'))];
      };
      expect(await get()).toEqual([200, 'MISS', 0]);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the entry is written once the response is sent
      expect((await get()).slice(0, 2)).toEqual([200, 'HIT']);
      await new Promise((resolve) => setTimeout(resolve, 2100)); // past the 1 s TTL, within the 600 s window
      const [status, cache, age] = await get();
      expect([status, cache]).toEqual([200, 'STALE']);
      expect(age).toBeGreaterThan(1);
      // The refresh runs once the stale answer was sent; then the entry is fresh again.
      let refreshed: unknown[] = [];
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        refreshed = await get();
        if (refreshed[1] === 'HIT') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(refreshed).toEqual([200, 'HIT', 0]);
    } finally {
      await demo.stop();
    }
  });
});
