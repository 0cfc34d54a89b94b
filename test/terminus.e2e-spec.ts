import type { INestApplication } from '@nestjs/common';
import { RedisConnection } from 'nestjs-redis-shield';
import { DEFAULT_HEALTH_PING_TIMEOUT_MS } from 'nestjs-redis-shield/terminus';
import request from 'supertest';
import { startTerminusApp } from './fixtures/terminus-app.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { waitFor } from './support/wait-for.js';

// The Terminus Redis indicator follows the fail mode: in `open` mode a Redis outage is
// reported as degraded details of an `up` indicator (200, the app still serves from its
// fallback), in `closed` mode as `down` (503). It never hangs on a dead or stalled Redis.

/** A request answered without waiting on Redis must finish within this (a hang check, not a benchmark). */
const FAST_MAX_MS = 1000;
/** A request that waited for the PING budget must finish within this. */
const STALLED_MAX_MS = DEFAULT_HEALTH_PING_TIMEOUT_MS + 500;
const RECOVERY_MAX_MS = 5000;
const TEST_TIMEOUT_MS = 30_000;

const DEGRADED = { status: 'up', redis: 'down', degraded: true, fallback: true, latency_ms: null };
const DOWN = { status: 'down', redis: 'down', latency_ms: null };

interface Timed {
  response: request.Response;
  ms: number;
}

async function getHealth(app: INestApplication): Promise<Timed> {
  const call = request(await app.getUrl()).get('/health');
  const started = performance.now();
  const response = await call;
  return { response, ms: performance.now() - started };
}

/** Asserts a 200 with Redis up and a PING latency in ms. */
function expectUp({ response }: Timed) {
  expect(response.status).toBe(200);
  expect(response.body.status).toBe('ok');
  expect(response.body.info.redis).toEqual({ status: 'up', redis: 'up', latency_ms: expect.any(Number) });
  expect(response.body.info.redis.latency_ms).toBeGreaterThanOrEqual(0);
}

describe.each<'express' | 'fastify'>(['express', 'fastify'])('RedisHealthIndicator on %s', (adapter) => {
  const logger = new CaptureLogger();
  let server: RedisServer;
  let openApp: INestApplication;
  let closedApp: INestApplication;
  const stateOf = (app: INestApplication) => app.get(RedisConnection).state;

  beforeAll(async () => {
    server = await startRedis();
    openApp = await startTerminusApp({ adapter, redisUrl: server.url, failMode: 'open', logger });
    closedApp = await startTerminusApp({ adapter, redisUrl: server.url, failMode: 'closed', logger });
    await waitFor(() => stateOf(openApp) === 'ready' && stateOf(closedApp) === 'ready', 5000, 'the connections');
  });

  afterAll(async () => {
    await server?.resume();
    await openApp?.close();
    await closedApp?.close();
    await server?.stop();
  });

  it(
    'Redis up: 200 with status up and the PING latency, in both fail modes',
    async () => {
      expectUp(await getHealth(openApp));
      expectUp(await getHealth(closedApp));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'open mode, Redis killed: 200 at once, the indicator up with degraded details',
    async () => {
      await server.kill();
      await waitFor(() => stateOf(openApp) === 'down', 2000, 'the connection to go down');
      const timed = await getHealth(openApp);
      expect(timed.response.status).toBe(200);
      expect(timed.response.body).toEqual({
        status: 'ok',
        info: { redis: DEGRADED },
        error: {},
        details: { redis: DEGRADED },
      });
      expect(timed.ms).toBeLessThan(FAST_MAX_MS);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'closed mode, Redis killed: 503 at once with error.redis',
    async () => {
      await server.kill(); // idempotent: already killed by the test before
      await waitFor(() => stateOf(closedApp) === 'down', 2000, 'the connection to go down');
      const timed = await getHealth(closedApp);
      expect(timed.response.status).toBe(503);
      expect(timed.response.body).toEqual({
        status: 'error',
        info: {},
        error: { redis: DOWN },
        details: { redis: DOWN },
      });
      expect(timed.ms).toBeLessThan(FAST_MAX_MS);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'Redis restarted: the indicator reports up again',
    async () => {
      await server.restart();
      await waitFor(
        () => stateOf(openApp) === 'ready' && stateOf(closedApp) === 'ready',
        RECOVERY_MAX_MS,
        'the connections to come back',
      );
      expectUp(await getHealth(openApp));
      expectUp(await getHealth(closedApp));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'Redis stalled (SIGSTOP): open mode still 200 within the PING budget + 500 ms, closed mode 503',
    async () => {
      await server.stall();
      // The connection still looks ready: only the PING budget bounds the wait.
      expect(stateOf(openApp)).toBe('ready');
      const [open, closed] = await Promise.all([getHealth(openApp), getHealth(closedApp)]);
      expect(open.response.status).toBe(200);
      expect(open.response.body.info.redis).toEqual(DEGRADED);
      expect(open.ms).toBeLessThan(STALLED_MAX_MS);
      expect(closed.response.status).toBe(503);
      expect(closed.response.body.error.redis).toEqual(DOWN);
      expect(closed.ms).toBeLessThan(STALLED_MAX_MS);
    },
    TEST_TIMEOUT_MS,
  );
});
