import type { INestApplication } from '@nestjs/common';
import { RedisConnection } from 'nestjs-redis-shield';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { signToken } from './support/tokens.js';
import { waitFor } from './support/wait-for.js';

// Every library endpoint has a documented answer when Redis fails (frozen with SIGSTOP, or
// shut down), within the request deadline: the caller's status is 200 from this instance's
// fallback state with "degraded": true, admin reads and writes are 503
// {"error":"redis unavailable"}, never a 500; and the library logs at most one line when the
// outage starts and one when it ends.

const JWT_SECRET = 'outage-e2e-jwt-secret-0123456789abcdef01';
const DEADLINE_MS = 300;

const ADMIN_ENDPOINTS: [method: 'get' | 'delete' | 'post', path: string][] = [
  ['get', '/api/v1/system/cache/stats'],
  ['delete', '/api/v1/system/cache/clear'],
  ['delete', '/api/v1/system/cache/user/alice'],
  ['delete', '/api/v1/system/cache/endpoint?endpoint_pattern=models'],
  ['post', '/api/v1/system/cache/invalidate?pattern=models'],
  ['delete', '/api/v1/system/rate-limit/clients/user:alice'],
  ['get', '/api/v1/system/rate-limit/violations'],
];

describe.each<HttpAdapterName>(['express', 'fastify'])('the system API when Redis fails, on %s', (adapter) => {
  let server: RedisServer;
  let app: INestApplication;
  let url: string;
  let admin: string;
  const logger = new CaptureLogger();

  beforeAll(async () => {
    server = await startRedis();
    const result = loadConfig({
      REDIS_URL: server.url,
      REDIS_COMMAND_TIMEOUT_MS: String(DEADLINE_MS),
      // The admin's calls must stay under its limits, in Redis and in the fallback alike.
      RATE_LIMIT_BURST: '10000',
      JWT_SECRET,
      IP_HASH_SECRET: 'outage-e2e-ip-hash-secret-0123456789abcd',
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger, adapter });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
    admin = `Bearer ${await signToken(JWT_SECRET, { sub: 'root', roles: ['admin'] })}`;
    await waitFor(() => app.get(RedisConnection).state === 'ready', 5000, 'the Redis connection');
  });

  afterAll(async () => {
    await server?.resume();
    await app?.close();
    await server?.stop();
  });

  /** Calls every library endpoint and returns `status body` per endpoint. */
  async function callAll() {
    const answers: string[] = [];
    const status = await request(url).get('/api/v1/system/rate-limit/status');
    answers.push(`${status.status} degraded=${String(status.body.degraded)}`);
    for (const [method, path] of ADMIN_ENDPOINTS) {
      const response = await request(url)[method](path).set('Authorization', admin);
      answers.push(`${response.status} ${JSON.stringify(response.body)}`);
    }
    return answers;
  }

  /** Library log lines of interest: anything above `log` level, and the connection's own state lines. */
  const libraryLines = () =>
    logger.lines.filter(
      (line) => line.level === 'error' || line.level === 'warn' || /^Redis:/.test(line.context ?? ''),
    );

  it.each([
    ['frozen (SIGSTOP)', (redis: RedisServer) => redis.stall(), (redis: RedisServer) => redis.resume()],
    ['shut down', (redis: RedisServer) => redis.kill(), (redis: RedisServer) => redis.restart()],
  ])(
    'Redis %s: status 200 degraded, admin 503 redis unavailable, never a 500; one log line each way',
    async (_fault, fail, recover) => {
      expect((await callAll())[0]).toBe('200 degraded=false');
      await app.get(ResponseCacheWriter).flush();
      const before = libraryLines().length;

      await fail(server);
      try {
        // Twice: the first calls meet the deadline, the later ones the open breaker.
        for (let round = 0; round < 2; round++) {
          const started = performance.now();
          const answers = await callAll();
          expect(answers[0]).toBe('200 degraded=true');
          expect(answers.slice(1)).toEqual(ADMIN_ENDPOINTS.map(() => '503 {"error":"redis unavailable"}'));
          // Eight calls, each within its deadline (plus the app's own time).
          expect(performance.now() - started).toBeLessThan(8 * (DEADLINE_MS + 500));
        }
      } finally {
        await recover(server);
      }
      await waitFor(() => app.get(RedisConnection).state === 'ready', 10_000, 'Redis back');
      expect((await callAll())[0]).toBe('200 degraded=false');

      const during = libraryLines().slice(before);
      expect(during.filter((line) => line.level === 'error')).toEqual([]);
      // One line when the outage started (the connection went down), one when it ended.
      expect(during.map((line) => `${line.level} ${line.context}`)).toEqual([
        'warn Redis:default',
        'log Redis:default',
      ]);
    },
    30_000,
  );
});
