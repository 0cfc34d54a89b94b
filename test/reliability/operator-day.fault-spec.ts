import { type RedisServer, startRedis } from '../harness/index.js';
import { type BuiltDemo, startBuiltDemo } from '../support/built-demo.js';
import { signToken } from '../support/tokens.js';

// An operator's day, black box: the built demo (`node dist/main.js`, as `npm start` runs
// it) as three processes behind one Redis, with realistic settings (a million requests an
// hour, plans), driven over HTTP only: floods, an admin reset on another instance, a cache
// invalidation on another instance, Redis frozen (SIGSTOP) and shut down mid-traffic over
// every route, the system API included. No 5xx but the documented 503s, no lost counts after
// recovery, bounded logs.

const JWT_SECRET = 'operator-day-jwt-secret-0123456789abcdef';
const IP_HASH_SECRET = 'operator-day-ip-hash-secret-0123456789ab';
const BURST = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let demos: BuiltDemo[] = [];
let admin: string;
const token = (sub: string, plan = 'free') => signToken(JWT_SECRET, { sub, plan });

/** Every answer of the day, by instance: status codes and the documented bodies of 503s. */
const answers: { instance: number; path: string; status: number; body: string }[] = [];

async function call(instance: number, method: string, path: string, authorization?: string, body?: unknown) {
  const response = await fetch(`${demos[instance].url}/api/v1${path}`, {
    method,
    headers: {
      ...(authorization ? { authorization } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  answers.push({ instance, path, status: response.status, body: text });
  return { status: response.status, headers: response.headers, text };
}

/** One request to every route of the demo (the system API included) on one instance. */
async function everyRoute(instance: number, user: string) {
  return Promise.all([
    call(instance, 'GET', '/models'),
    call(instance, 'GET', '/models/gpt-4'),
    call(instance, 'GET', '/analytics/usage', `Bearer ${user}`),
    call(instance, 'POST', '/completions', `Bearer ${user}`, { prompt: 'hello', max_tokens: 1000 }),
    call(instance, 'GET', '/health'),
    call(instance, 'GET', '/system/rate-limit/status', `Bearer ${user}`),
    call(instance, 'GET', '/system/cache/stats', admin),
    call(instance, 'GET', '/system/rate-limit/violations', admin),
  ]);
}

/** Background traffic over every route of every instance until `stop()`. */
function traffic() {
  let running = true;
  const loops = [0, 1, 2].map(async (instance) => {
    const user = await token(`traffic-${instance}`, 'pro');
    while (running) {
      await everyRoute(instance, user);
      await sleep(20);
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

/** `n` concurrent requests of one client spread over the three instances; how many were admitted. */
async function flood(authorization: string, n: number) {
  const responses = await Promise.all(
    Array.from({ length: n }, (_, i) => call(i % 3, 'GET', '/models', authorization)),
  );
  return responses.filter((response) => response.status === 200).length;
}

beforeAll(async () => {
  redis = await startRedis();
  admin = `Bearer ${await signToken(JWT_SECRET, { sub: 'operator', roles: ['admin'], plan: 'pro' })}`;
  demos = await Promise.all(
    [0, 1, 2].map(() =>
      startBuiltDemo(20_000, {
        REDIS_URL: redis.url,
        JWT_SECRET,
        IP_HASH_SECRET,
        RATE_LIMIT_PER_HOUR: '1000000',
        RATE_LIMIT_PER_MINUTE: '100000',
        RATE_LIMIT_BURST: String(BURST),
        AUTH_FAILURES_PER_MINUTE: '1000',
      }),
    ),
  );
}, 60_000);

afterAll(async () => {
  await redis?.resume();
  await Promise.all(demos.map((demo) => demo.stop()));
  await redis?.stop();
});

describe("an operator's day with the built demo (3 instances, one Redis)", () => {
  it('serves every route on every instance', async () => {
    const user = await token('morning');
    for (const instance of [0, 1, 2]) {
      const statuses = (await everyRoute(instance, user)).map((response) => response.status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    }
  });

  it('a flood of one client across the instances admits exactly its burst', async () => {
    expect(await flood(`Bearer ${await token('flooder')}`, 150)).toBe(BURST);
  });

  it('a reset on one instance unblocks the client on the others at once', async () => {
    const blocked = `Bearer ${await token('blocked')}`;
    expect(await flood(blocked, 60)).toBe(BURST);
    expect((await call(1, 'GET', '/models', blocked)).status).toBe(429);
    expect((await call(2, 'GET', '/models', blocked)).status).toBe(429);
    const reset = await call(0, 'DELETE', '/system/rate-limit/clients/user:blocked', admin);
    expect([reset.status, reset.text]).toEqual([200, '{"reset":true}']);
    await sleep(200); // the instance bus: well within its 1 s
    expect((await call(1, 'GET', '/models', blocked)).status).toBe(200);
    expect((await call(2, 'GET', '/models', blocked)).status).toBe(200);
  });

  it('a cache invalidation on one instance is seen by the others', async () => {
    const first = await call(1, 'GET', '/models/claude-3-haiku');
    expect(first.status).toBe(200);
    await sleep(100); // the entry is written after the response
    expect((await call(2, 'GET', '/models/claude-3-haiku')).headers.get('x-cache-status')).toBe('HIT');
    const deleted = await call(0, 'POST', '/system/cache/invalidate?pattern=*/models/claude-3-haiku', admin);
    expect([deleted.status, deleted.text]).toEqual([200, '{"deleted":1}']);
    expect((await call(2, 'GET', '/models/claude-3-haiku')).headers.get('x-cache-status')).toBe('MISS');
  });

  it.each([
    ['frozen (SIGSTOP) for 2 s', () => redis.stall(), () => redis.resume()],
    ['shut down and restarted empty', () => redis.kill(), () => redis.restart()],
  ])(
    'Redis %s mid-traffic: no 5xx but the documented 503s; exact again after recovery',
    async (_name, fail, recover) => {
      const from = answers.length;
      const stop = traffic();
      await sleep(500);
      await fail();
      await sleep(2000);
      await recover();
      await sleep(2000);
      await stop();
      const during = answers.slice(from);
      expect(during.length).toBeGreaterThan(100);
      const undocumented = during.filter(
        (answer) =>
          answer.status >= 500 &&
          !(
            answer.status === 503 &&
            answer.path.startsWith('/system/') &&
            answer.body === '{"error":"redis unavailable"}'
          ),
      );
      expect(undocumented).toEqual([]);
      // Counting is back in Redis, exact across the instances: no count lost to the outage.
      for (const instance of [0, 1, 2]) {
        const status = await call(instance, 'GET', '/system/rate-limit/status');
        expect(JSON.parse(status.text).degraded).toBe(false);
      }
      expect(await flood(`Bearer ${await token(`after-${from}`)}`, 90)).toBe(BURST);
    },
    30_000,
  );

  it('logs stay bounded: no stack trace, a few lines per outage per instance', () => {
    for (const demo of demos) {
      const lines = demo.output().split('\n');
      expect(lines.filter((line) => /^\s+at /.test(line))).toEqual([]);
      expect(lines.filter((line) => /\bERROR\b/.test(line))).toEqual([]);
      // Start-up warnings plus one line when each outage starts and one when it ends.
      const warnings = lines.filter((line) => /\bWARN\b/.test(line) && /\[Redis:default\]|\[InstanceBus/.test(line));
      expect(warnings.length).toBeLessThanOrEqual(4);
    }
  });
});
