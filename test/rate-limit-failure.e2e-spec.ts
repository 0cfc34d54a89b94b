import type { INestApplication } from '@nestjs/common';
import { type RateLimitDecisionEvent, RedisConnection, ShieldEvents } from 'nestjs-redis-shield';
import { PolicyRegistry } from '../libs/nestjs-redis-shield/src/rate-limit/engine/policy.js';
import request from 'supertest';
import { stateFields } from '../libs/nestjs-redis-shield/src/rate-limit/store/redis.store.js';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RecordedCommand, type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';
import { signToken } from './support/tokens.js';
import { waitFor } from './support/wait-for.js';

// "Stalled Redis" acceptance: with REDIS_COMMAND_TIMEOUT_MS=1000 a SIGSTOPped Redis costs a
// request at most the deadline, the breaker then fails fast, `open` mode keeps limiting in
// memory (burst of 5 per instance), `closed` mode answers 503, and counting returns to Redis
// by itself once Redis answers again.

const JWT_SECRET = 'failure-e2e-jwt-secret-0123456789abcdef';
const IP_HASH_SECRET = 'failure-e2e-ip-hash-secret-0123456789ab';
const DEADLINE_MS = 1000;
/** A request decided after a timed-out Redis call must finish within this. */
const SLOW_MAX_MS = 1800;
/** Any request while the breaker is open must finish within this. */
const FAST_MAX_MS = 300;
const RECOVERY_MAX_MS = 5000;
const BURST = 5;
const TEST_TIMEOUT_MS = 30_000;

const EXCEEDED_BODY_KEYS = ['error', 'message', 'reset_time', 'retry_after'];
const UNAVAILABLE_BODY = {
  error: 'Service unavailable',
  message: 'Rate limiting is temporarily unavailable. Please try again later.',
};

/** Boots the demo on 127.0.0.1 with the acceptance environment. */
async function startDemo(adapter: HttpAdapterName, redisUrl: string, env: Record<string, string> = {}) {
  const result = loadConfig({
    REDIS_URL: redisUrl,
    REDIS_COMMAND_TIMEOUT_MS: String(DEADLINE_MS),
    RATE_LIMIT_BURST: String(BURST),
    RATE_LIMIT_BURST_WINDOW_SECONDS: '60',
    RATE_LIMIT_PER_MINUTE: '1000',
    RATE_LIMIT_PER_HOUR: '10000',
    JWT_SECRET,
    IP_HASH_SECRET,
    ...env,
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const app = await createApp(result.config, { logger: false, adapter });
  await app.listen(0, '127.0.0.1');
  return app;
}

interface Timed {
  response: request.Response;
  ms: number;
}

/** GETs `path`, as the user `sub` when given (a fresh rate-limit client per sub), and times it. */
async function timedGet(url: string, path: string, sub?: string): Promise<Timed> {
  const call = request(url).get(path);
  if (sub !== undefined) call.set('Authorization', `Bearer ${await signToken(JWT_SECRET, { sub })}`);
  const started = performance.now();
  const response = await call;
  return { response, ms: performance.now() - started };
}

const isScriptCall = (command: RecordedCommand) => command.name === 'EVALSHA' || command.name === 'EVAL';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The app plus what the tests observe of it: decisions by client, keys, connection state. */
function observe(app: INestApplication) {
  const connection = app.get(RedisConnection);
  const decisions: RateLimitDecisionEvent[] = [];
  app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
  return {
    connection,
    /** The Redis key of the default policy of a client, as the library writes it. */
    keyOf: (clientId: string) => connection.keys.rateLimit(clientId, 'default'),
    decisionsOf: (clientId: string) => decisions.filter((event) => event.clientId === clientId),
  };
}

describe.each<HttpAdapterName>(['express', 'fastify'])('stalled Redis on %s, RATE_LIMIT_FAIL_MODE=open', (adapter) => {
  let server: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let url: string;
  let seen: ReturnType<typeof observe>;

  /** The rate-limit script calls the proxy forwarded for one client. */
  const scriptCallsFor = (clientId: string) =>
    proxy.commands.filter((command) => isScriptCall(command) && proxy.keysOf(command).includes(seen.keyOf(clientId)));

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    app = await startDemo(adapter, proxy.url);
    url = await app.getUrl();
    seen = observe(app);
    await waitFor(() => seen.connection.state === 'ready', 5000, 'the Redis connection');
  });

  afterAll(async () => {
    await server?.resume();
    await app?.close();
    await proxy?.close();
    await server?.stop();
  });

  it(
    'counts in Redis while it is healthy (a script call; burst is the limiting tier)',
    async () => {
      const { response } = await timedGet(url, '/api/v1/models');
      expect(response.status).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe(String(BURST));
      expect(response.headers['x-ratelimit-remaining']).toBe(String(BURST - 1));
      expect(response.headers['ratelimit-policy']).toContain(`"burst";q=${BURST};w=60`);
      const clientId = 'ip:127.0.0.1';
      expect(scriptCallsFor(clientId).length).toBeGreaterThanOrEqual(1);
      expect(seen.decisionsOf(clientId).map((event) => event.fallback)).toEqual([false]);
      expect(await server.command('EXISTS', seen.keyOf(clientId))).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'stalled: never 5xx, waits at most the deadline, fails fast once the breaker opens, ' +
      'and the in-memory fallback admits exactly the burst of 5 before a 429',
    async () => {
      const sub = `stalled-${adapter}`;
      const clientId = `user:${sub}`;
      await server.stall();

      const results: Timed[] = [];
      for (let i = 0; i < 10; i++) {
        const timed = await timedGet(url, '/api/v1/models', sub);
        results.push(timed);
        expect(timed.response.status).toBeLessThan(500);
        if (timed.response.status === 429) break;
      }
      const statuses = results.map(({ response }) => response.status);
      // The fallback starts counting at the first request Redis could not decide: exactly 5 admitted.
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      expect(results.slice(0, BURST).map(({ response }) => response.headers['x-ratelimit-remaining'])).toEqual([
        '4',
        '3',
        '2',
        '1',
        '0',
      ]);
      // Every one of them was decided by the fallback, none by Redis.
      expect(seen.decisionsOf(clientId).map((event) => event.fallback)).toEqual(Array(6).fill(true));

      // The first three each waited for the 1000 ms deadline (three timeouts open the breaker) ...
      for (const { ms } of results.slice(0, 3)) {
        expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
        expect(ms).toBeLessThan(SLOW_MAX_MS);
      }
      expect(seen.connection.state).toBe('down');
      // ... after which nothing more is sent to Redis and every request is fast.
      for (const { ms } of results.slice(3)) expect(ms).toBeLessThan(FAST_MAX_MS);
      expect(scriptCallsFor(clientId)).toHaveLength(3);

      const rejected = results[BURST].response;
      expect(Object.keys(JSON.parse(rejected.text))).toEqual(EXCEEDED_BODY_KEYS);
      expect(rejected.body).toEqual({
        error: 'Rate limit exceeded',
        message: 'Too many requests. Please try again later.',
        reset_time: expect.any(Number),
        retry_after: expect.any(Number),
      });
      const { reset_time: resetTime, retry_after: retryAfter } = rejected.body as Record<string, number>;
      expect(Number.isInteger(resetTime)).toBe(true);
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(120); // the 60 s burst window plus the previous window's decay
      expect(resetTime).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + retryAfter - 2);
      expect(rejected.headers['retry-after']).toBe(String(retryAfter));
      expect(rejected.headers['x-ratelimit-limit']).toBe(String(BURST));
      expect(rejected.headers['x-ratelimit-remaining']).toBe('0');
      expect(rejected.headers['x-ratelimit-reset']).toBe(String(resetTime));
      expect(rejected.headers['ratelimit-policy']).toContain(`"burst";q=${BURST};w=60`);
      expect(rejected.headers['ratelimit']).toMatch(/"burst";r=0;t=\d+/);

      // Still limited, still fast, still nothing sent to Redis.
      const again = await timedGet(url, '/api/v1/models', sub);
      expect(again.response.status).toBe(429);
      expect(again.ms).toBeLessThan(FAST_MAX_MS);
      expect(scriptCallsFor(clientId)).toHaveLength(3);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'resumed: counting is back in Redis within 5 s',
    async () => {
      expect(server.stalled).toBe(true);
      await server.resume();
      const resumedAt = performance.now();
      let countedIn: { clientId: string; ms: number } | undefined;
      for (let attempt = 1; performance.now() - resumedAt < RECOVERY_MAX_MS + 1000; attempt++) {
        // A fresh client per attempt, so the fallback's burst never interferes.
        const sub = `resumed-${adapter}-${attempt}`;
        const { response, ms } = await timedGet(url, '/api/v1/models', sub);
        expect(response.status).toBe(200);
        expect(ms).toBeLessThan(SLOW_MAX_MS);
        const [decision] = seen.decisionsOf(`user:${sub}`);
        if (!decision.fallback) {
          countedIn = { clientId: `user:${sub}`, ms: performance.now() - resumedAt };
          break;
        }
        await sleep(50);
      }
      expect(countedIn).toBeDefined();
      expect(countedIn!.ms).toBeLessThan(RECOVERY_MAX_MS);
      // The decision really came from Redis: the script ran for that client and wrote its hash.
      expect(scriptCallsFor(countedIn!.clientId).length).toBeGreaterThanOrEqual(1);
      expect(await server.command('EXISTS', seen.keyOf(countedIn!.clientId))).toBe(1);
      const fields = (await server.command('HKEYS', seen.keyOf(countedIn!.clientId))) as string[];
      // One field per tier of the default policy (small integers, see stateFields).
      expect([...fields].sort()).toEqual([...stateFields(app.get(PolicyRegistry).get('default'))].sort());
      expect(seen.connection.state).toBe('ready');
    },
    TEST_TIMEOUT_MS,
  );
});

describe.each<HttpAdapterName>(['express', 'fastify'])(
  'Redis failing on %s, RATE_LIMIT_FAIL_MODE=closed',
  (adapter) => {
    let server: RedisServer;
    let app: INestApplication;
    let url: string;
    let seen: ReturnType<typeof observe>;
    let clients = 0;
    /** A fresh rate-limit client, so earlier requests of the test never push one over the burst. */
    const freshSub = () => `closed-${adapter}-${++clients}`;

    /** Sends requests through an outage of Redis: all 503, the first ones slow at most, then fast. */
    async function expectUnavailable(slowAtMost: number) {
      const results: Timed[] = [];
      for (let i = 0; i < 5; i++) results.push(await timedGet(url, '/api/v1/models', freshSub()));
      for (const { response } of results) {
        expect(response.status).toBe(503);
        expect(response.body).toEqual(UNAVAILABLE_BODY);
        expect(response.headers['retry-after']).toBeUndefined();
      }
      for (const { ms } of results.slice(0, 3)) expect(ms).toBeLessThan(slowAtMost);
      expect(seen.connection.state).toBe('down');
      for (const { ms } of results.slice(3)) expect(ms).toBeLessThan(FAST_MAX_MS);
      return results;
    }

    /** Health answers 503 (degraded, no fallback) at once while Redis is down in closed mode. */
    async function expectHealthUnavailable() {
      const { response, ms } = await timedGet(url, '/api/v1/health');
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ status: 'degraded', fallback: false, redis: { status: 'down' } });
      expect(ms).toBeLessThan(FAST_MAX_MS);
    }

    /** Polls with fresh clients until a limited route answers 200 again; returns how long it took. */
    async function recoveryMs(since: number): Promise<number> {
      for (;;) {
        const { response, ms } = await timedGet(url, '/api/v1/models', freshSub());
        expect([200, 503]).toContain(response.status);
        expect(ms).toBeLessThan(SLOW_MAX_MS);
        if (response.status === 200) return performance.now() - since;
        if (performance.now() - since > RECOVERY_MAX_MS + 1000) return Number.POSITIVE_INFINITY;
        await sleep(50);
      }
    }

    beforeAll(async () => {
      server = await startRedis();
      app = await startDemo(adapter, server.url, { RATE_LIMIT_FAIL_MODE: 'closed' });
      url = await app.getUrl();
      seen = observe(app);
      await waitFor(() => seen.connection.state === 'ready', 5000, 'the Redis connection');
    });

    afterAll(async () => {
      await server?.resume();
      await app?.close();
      await server?.stop();
    });

    it(
      'healthy: limited routes and health answer 200',
      async () => {
        expect((await timedGet(url, '/api/v1/models', freshSub())).response.status).toBe(200);
        expect((await timedGet(url, '/api/v1/health')).response.status).toBe(200);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'stalled: 503 within the deadline, fast once the breaker opens; 200 again within 5 s of the resume',
      async () => {
        await server.stall();
        const results = await expectUnavailable(SLOW_MAX_MS);
        for (const { ms } of results.slice(0, 3)) expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
        await expectHealthUnavailable();

        await server.resume();
        expect(await recoveryMs(performance.now())).toBeLessThan(RECOVERY_MAX_MS);
        expect(seen.connection.state).toBe('ready');
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'killed (connection refused): 503 at once, health 503; 200 again within 5 s of the restart',
      async () => {
        await server.kill();
        await waitFor(() => seen.connection.state === 'down', 2000, 'the connection to go down');
        await expectUnavailable(SLOW_MAX_MS);
        await expectHealthUnavailable();

        await server.restart();
        expect(await recoveryMs(performance.now())).toBeLessThan(RECOVERY_MAX_MS);
        await waitFor(() => seen.connection.state === 'ready', 1000, 'the connection state');
        const health = await timedGet(url, '/api/v1/health');
        expect(health.response.status).toBe(200);
        expect(health.response.body).toMatchObject({ status: 'ok', fallback: false, redis: { status: 'up' } });
      },
      TEST_TIMEOUT_MS,
    );
  },
);
