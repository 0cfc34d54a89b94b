import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';

// A rejection in the IETF problem format (RFC 9457, the problem types of
// draft-ietf-httpapi-ratelimit-headers) when the client prefers application/problem+json;
// the documented JSON bodies otherwise.

const PROBLEM = 'application/problem+json';

async function startDemo(env: Record<string, string>, adapter: HttpAdapterName): Promise<INestApplication> {
  const result = loadConfig({
    JWT_SECRET: 'problem-jwt-secret-0123456789abcdef0123456789',
    IP_HASH_SECRET: 'problem-ip-hash-secret-0123456789abcdef01',
    ...env,
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const app = await createApp(result.config, { logger: false, adapter });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each<HttpAdapterName>(['express', 'fastify'])('problem+json rejections on %s', (adapter) => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('a 429 is quota-exceeded problem details when Accept prefers them, the documented body otherwise', async () => {
    const app = await startDemo({ REDIS_URL: redis.url, RATE_LIMIT_BURST: '1' }, adapter);
    try {
      const url = await app.getUrl();
      expect((await request(url).get('/api/v1/models')).status).toBe(200);
      const plain = await request(url).get('/api/v1/models').set('Accept', 'application/json');
      expect(plain.status).toBe(429);
      expect(plain.headers['content-type']).toMatch(/^application\/json/);
      expect(plain.body).toEqual({
        error: 'Rate limit exceeded',
        message: 'Too many requests. Please try again later.',
        reset_time: expect.any(Number),
        retry_after: expect.any(Number),
      });

      const problem = await request(url).get('/api/v1/models').set('Accept', `${PROBLEM}, application/json;q=0.5`);
      expect(problem.status).toBe(429);
      expect(problem.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(problem.text)).toEqual({
        type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
        title: 'Request cannot be satisfied as assigned quota has been exceeded',
        status: 429,
        detail: expect.stringMatching(/^retry after \d+ s \(tier burst\)$/),
        'violated-policies': ['default'],
      });
      // The fields a 429 always carries are there too.
      expect(Number(problem.headers['retry-after'])).toBeGreaterThan(0);
      expect(problem.headers.ratelimit).toBeDefined();
    } finally {
      await app.close();
    }
  });

  it('a closed-mode 503 is temporary-reduced-capacity problem details when Accept prefers them', async () => {
    const app = await startDemo({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_FAIL_MODE: 'closed' }, adapter);
    try {
      const url = await app.getUrl();
      const plain = await request(url).get('/api/v1/models');
      expect(plain.status).toBe(503);
      expect(plain.body).toMatchObject({ error: 'Service unavailable' });
      const problem = await request(url).get('/api/v1/models').set('Accept', PROBLEM);
      expect(problem.status).toBe(503);
      expect(problem.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(problem.text)).toEqual({
        type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
        title: 'Request cannot be satisfied due to temporarily reduced capacity',
        status: 503,
        detail: expect.any(String),
      });
    } finally {
      await app.close();
    }
  });
});
