import { Controller, Get, type INestApplication, Module, Query } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { ConcurrencyLimit, RateLimitModule, RedisModule } from 'nestjs-redis-shield';
import { CONCURRENCY_RELEASE_LUA } from '../libs/nestjs-redis-shield/src/rate-limit/store/lua/concurrency-release.lua.js';
import { RATE_LIMIT_LUA } from '../libs/nestjs-redis-shield/src/rate-limit/store/lua/rate-limit.lua.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';
import { type BuiltDemo, startBuiltDemo } from './support/built-demo.js';
import { HeaderUserGuard } from './support/header-user.guard.js';
import { signToken } from './support/tokens.js';
import { waitFor } from './support/wait-for.js';

// Issue 19 point 3: at most n requests of one client in flight across every instance. The
// slot is taken in the rate-limit script call (one EVALSHA on the request path), released
// by a second small script once the response finished or the client went away.

type Adapter = 'express' | 'fastify';

const LIMIT = 3;
const POLICY = 'SlowController.slow:concurrency';

/** Handlers waiting to answer, by request id: the test opens them. */
const gates = new Map<string, () => void>();
/** Request ids that reached a handler, in order. */
const entered: string[] = [];
/** The EVALSHA count at the proxy when each request reached its handler. */
const evalshaAtEntry = new Map<string, number>();
/** Who waits for a request id to reach its handler. */
const entryWaiters = new Map<string, () => void>();
let proxy: RespProxy | undefined;

/** Resolves once request `id` reached its handler (never rejects). */
function entry(id: string): Promise<void> {
  if (gates.has(id)) return Promise.resolve();
  return new Promise((resolve) => entryWaiters.set(id, resolve));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls an async condition every 20 ms until it holds, for at most `timeoutMs`. */
async function eventually(condition: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

@Controller('c')
class SlowController {
  @Get('slow')
  @ConcurrencyLimit(LIMIT, { leaseMs: 30_000 })
  async slow(@Query('id') id: string) {
    entered.push(id);
    if (proxy) evalshaAtEntry.set(id, proxy.count('EVALSHA'));
    const opened = new Promise<void>((resolve) => gates.set(id, resolve));
    entryWaiters.get(id)?.();
    await opened;
    return { id };
  }
}

async function startApp(adapter: Adapter, redisUrl: string): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redisUrl, hashSecret: 'concurrency-e2e', commandTimeoutMs: 2000 }),
      RateLimitModule.forRoot({ defaultTiers: { minute: { limit: 100_000, windowMs: 60_000 } } }),
    ],
    controllers: [SlowController],
    providers: [{ provide: APP_GUARD, useClass: HeaderUserGuard }],
  })
  class ConcurrencyModule {}
  const app = await NestFactory.create(
    ConcurrencyModule,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false, abortOnError: false },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET on its own connection, which the test may abort (the connection closes). */
function send(app: INestApplication, path: string, headers: Record<string, string>) {
  let abort: () => void = () => undefined;
  const done = app.getUrl().then(
    (url) =>
      new Promise<Answer>((resolve, reject) => {
        const req = httpRequest(`${url}${path}`, { agent: false, headers }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
        abort = () => req.destroy();
      }),
  );
  return { done, abort: () => abort() };
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

describe.each<Adapter>(['express', 'fastify'])('@ConcurrencyLimit across three %s instances', (adapter) => {
  let redis: RedisServer;
  let apps: INestApplication[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startRespProxy(redis);
    apps = await Promise.all([0, 1, 2].map(() => startApp(adapter, proxy!.url)));
  });

  afterAll(async () => {
    for (const open of gates.values()) open();
    await Promise.all(apps.map((app) => app.close()));
    await proxy?.close();
    proxy = undefined;
    await redis?.stop();
  });

  afterEach(async () => {
    for (const open of gates.values()) open();
    gates.clear();
    entered.length = 0;
    // Every slot released before the next test (they are per user, this is for the key count).
    await eventually(async () => (await slotKeys()).length === 0);
  });

  /** Starts request `id` of `user` on instance `i % 3`. */
  const start = (user: string, id: string, i: number, accept = 'application/json') =>
    send(apps[i % 3], `/c/slow?id=${id}`, { 'x-user': user, accept });

  /**
   * Starts requests `<id>-<n>` until one reaches its handler (a 429 retries after 10 ms): the
   * slot freed by a finished request comes back once its release landed.
   */
  async function admitted(user: string, id: string, i: number): Promise<string> {
    // Well under the 1 s a rejection asks for: a slot freed is usable at once, even on the
    // instance that rejected the client (no local block repeats a concurrency rejection).
    const deadline = Date.now() + 600;
    for (let n = 0; ; n++) {
      const attemptId = `${id}-${n}`;
      const attempt = start(user, attemptId, i);
      const outcome = await Promise.race([attempt.done.then((answer) => answer.status), entry(attemptId)]);
      if (outcome === undefined) return attemptId;
      if (outcome !== 429 || Date.now() > deadline) throw new Error(`${attemptId} answered ${outcome}`);
      await sleep(10);
    }
  }

  /** The live slots of every client, read from Redis (the test's own server). */
  const slotKeys = async () =>
    ((await redis.command('KEYS', '*~slots')) as string[]).filter((key) => key.includes(POLICY));

  it('admits n requests in flight, rejects the n+1th with 429 naming the policy, and frees a slot when one finishes', async () => {
    const held = Array.from({ length: LIMIT }, (_, i) => start('alice', `a${i}`, i));
    await waitFor(() => gates.size === LIMIT);

    const rejected = await start('alice', 'a-over', 1, 'application/problem+json').done;
    expect(rejected.status).toBe(429);
    expect(rejected.headers['retry-after']).toBe('1');
    expect(JSON.parse(rejected.body)).toMatchObject({
      status: 429,
      'violated-policies': [POLICY],
      detail: 'retry after 1 s (tier concurrency)',
    });
    // The concurrency tier has no window: it is not among the draft fields, which list the rate tiers.
    expect(rejected.headers['ratelimit-policy']).toBe('"minute";q=100000;w=60');
    expect(rejected.headers['x-ratelimit-limit']).toBe(String(LIMIT));
    expect(rejected.headers['x-ratelimit-remaining']).toBe('0');
    const plain = await start('alice', 'a-over-plain', 2).done;
    expect(plain.status).toBe(429);
    expect(JSON.parse(plain.body)).toEqual({
      error: 'Rate limit exceeded',
      message: 'Too many requests. Please try again later.',
      reset_time: expect.any(Number),
      retry_after: 1,
    });
    // Another client has slots of its own.
    const bob = start('bob', 'b0', 0);
    await waitFor(() => gates.has('b0'));
    gates.get('b0')!();
    expect((await bob.done).status).toBe(200);

    gates.get('a0')!();
    expect((await held[0].done).status).toBe(200);
    // The release runs after the response: the slot comes back within a moment.
    await admitted('alice', 'a-next', 2);
    expect((await start('alice', 'a-over-again', 0).done).status).toBe(429);
  });

  it('frees the slot of a request whose client aborted while the handler still runs', async () => {
    const held = Array.from({ length: LIMIT }, (_, i) => start('carol', `c${i}`, i));
    await waitFor(() => gates.size === LIMIT);
    expect((await start('carol', 'c-over', 0).done).status).toBe(429);

    held[1].abort();
    await expect(held[1].done).rejects.toThrow();
    // The handler of c1 is still waiting at its gate, yet its slot is free.
    const after = await admitted('carol', 'c-after-abort', 0);
    expect(gates.has('c1')).toBe(true);
    expect((await start('carol', 'c-over-again', 1).done).status).toBe(429);
    expect(entered).toContain(after);
  });

  it('takes the slot in the one EVALSHA of the request; the release is one more call after the response', async () => {
    await eventually(async () => (await slotKeys()).length === 0); // earlier tests' slots released
    proxy!.reset();
    const one = start('dave', 'd0', 0);
    await entry('d0');
    // One script call before the handler ran: the decision, slot included.
    expect(evalshaAtEntry.get('d0')).toBe(1);
    const decisions = proxy!.commands.filter((c) => c.name === 'EVALSHA');
    expect(decisions).toHaveLength(1);
    expect(decisions[0].args[0]).toBe(sha1(RATE_LIMIT_LUA));
    // The script declares the slots' ZSET among its keys (one hash tag with the counters).
    const keys = proxy!.keysOf(decisions[0]);
    expect(keys.some((key) => key.endsWith(`${POLICY}:~slots`))).toBe(true);
    const tags = new Set(keys.map((key) => /\{[^}]+\}/.exec(key)?.[0]));
    expect(tags.size).toBe(1);
    const [tag] = tags;
    expect(await slotKeys()).toHaveLength(1);

    gates.get('d0')!();
    expect((await one.done).status).toBe(200);
    await waitFor(() => proxy!.count('EVALSHA') === 2);
    const release = proxy!.commands.filter((c) => c.name === 'EVALSHA')[1];
    expect(release.args[0]).toBe(sha1(CONCURRENCY_RELEASE_LUA));
    expect(proxy!.keysOf(release)).toEqual(keys.filter((key) => key.endsWith('~slots')));
    await eventually(async () => (await slotKeys()).length === 0);
    // Nothing else went to Redis about this client.
    const others = proxy!.commands.filter(
      (c) => c.name !== 'EVALSHA' && proxy!.keysOf(c).some((k) => k.includes(tag!)),
    );
    expect(others).toEqual([]);
  });

  it('a rejection takes no slot and an admission is counted once, whichever instance decides', async () => {
    // 12 concurrent requests of one client over three instances: exactly LIMIT get in.
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) void start('erin', `e${i}`, i).done.then((answer) => statuses.push(answer.status));
    await waitFor(() => statuses.length === 12 - LIMIT && gates.size === LIMIT, 5000, '9 rejections and 3 admissions');
    await sleep(100); // nothing else is admitted meanwhile
    expect(statuses).toEqual(Array(12 - LIMIT).fill(429));
    expect(gates.size).toBe(LIMIT);
    const [key] = await slotKeys();
    expect(await redis.command('ZCARD', key)).toBe(LIMIT);
    const ttl = Number(await redis.command('PTTL', key));
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });
});

describe('@ConcurrencyLimit while Redis is down (the in-memory fallback, per instance)', () => {
  it('admits n in flight, rejects the next, and frees the slot when a response finishes', async () => {
    const app = await startApp('express', 'redis://127.0.0.1:1');
    try {
      const held = Array.from({ length: LIMIT }, (_, i) => send(app, `/c/slow?id=f${i}`, { 'x-user': 'frank' }));
      await waitFor(() => gates.size === LIMIT);
      const over = await send(app, '/c/slow?id=f-over', { 'x-user': 'frank' }).done;
      expect(over.status).toBe(429);
      expect(over.headers['retry-after']).toBe('1');
      gates.get('f0')!();
      expect((await held[0].done).status).toBe(200);
      // The in-memory release is synchronous with the response's close.
      await sleep(20);
      const next = send(app, '/c/slow?id=f-next', { 'x-user': 'frank' });
      await entry('f-next');
      for (const open of gates.values()) open();
      expect((await next.done).status).toBe(200);
    } finally {
      for (const open of gates.values()) open();
      gates.clear();
      await app.close();
    }
  });
});

describe('an instance SIGKILLed while holding slots (the built demo, two processes)', () => {
  const JWT_SECRET = 'concurrency-jwt-secret-0123456789abcdef0123';
  const IP_HASH_SECRET = 'concurrency-ip-hash-secret-0123456789abcd';
  const LEASE_MS = 3000;
  let redis: RedisServer;
  const demos: BuiltDemo[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await Promise.all(demos.map((demo) => demo.stop()));
    await redis?.stop();
  });

  /** Two completions of a client in flight at once, each slot leased for `leaseMs`; generous rate limits. */
  const demoEnv = (leaseMs: number) => ({
    REDIS_URL: redis.url,
    JWT_SECRET,
    IP_HASH_SECRET,
    RATE_LIMIT_PER_MINUTE: '1000',
    RATE_LIMIT_BURST: '1000',
    COMPLETIONS_CONCURRENCY: '2',
    COMPLETIONS_LEASE_MS: String(leaseMs),
  });

  it('its slots stay taken until their lease ends, then the other instance admits again', async () => {
    const env = demoEnv(LEASE_MS);
    // Instance A's completions take a minute (they hold their slots); B's answer at once.
    const [a, b] = await Promise.all([
      startBuiltDemo(15_000, { ...env, COMPLETION_DELAY_MS: '60000' }),
      startBuiltDemo(15_000, { ...env, COMPLETION_DELAY_MS: '0' }),
    ]);
    demos.push(a, b);
    const jwt = await signToken(JWT_SECRET, { sub: 'sigkill-user' });
    const complete = (demo: BuiltDemo, signal?: AbortSignal) =>
      fetch(`${demo.url}/api/v1/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${jwt}`,
          'content-type': 'application/json',
          accept: 'application/problem+json',
        },
        body: JSON.stringify({ prompt: 'hold' }),
        signal,
      });

    const held = [complete(a).catch(() => undefined), complete(a).catch(() => undefined)];
    // A admitted both (its handlers now sleep): two leases in the client's slot ZSET.
    const slotsHeld = async () => {
      const keys = (await redis.command('KEYS', '*~slots')) as string[];
      return keys.length === 0 ? 0 : Number(await redis.command('ZCARD', keys[0]));
    };
    await eventually(async () => (await slotsHeld()) === 2, 10_000);
    const rejection = await complete(b);
    expect(rejection.status).toBe(429);
    const heldSince = Date.now();
    expect(rejection.headers.get('retry-after')).toBe('1');
    expect(await rejection.json()).toMatchObject({
      'violated-policies': ['completions'],
      detail: 'retry after 1 s (tier concurrent)',
    });

    expect((await a.kill('SIGKILL')).signal).toBe('SIGKILL');
    await Promise.all(held);
    // Nobody released A's slots: B keeps rejecting until their lease ends.
    expect((await complete(b)).status).toBe(429);
    let admittedAt = 0;
    while (!admittedAt) {
      const response = await complete(b);
      if (response.status === 200) admittedAt = Date.now();
      else if (Date.now() - heldSince > LEASE_MS + 5000) throw new Error(`still ${response.status} past the lease`);
      else await sleep(200);
    }
    expect(admittedAt - heldSince).toBeGreaterThanOrEqual(LEASE_MS - 1500);
    // Both slots came back.
    expect((await complete(b)).status).toBe(200);
  }, 40_000);

  it('slots whose requests finished while Redis was frozen are given back once it answers, not at the end of their lease', async () => {
    const env = demoEnv(60_000);
    const [a, b] = await Promise.all([
      startBuiltDemo(15_000, { ...env, COMPLETION_DELAY_MS: '1500' }),
      startBuiltDemo(15_000, { ...env, COMPLETION_DELAY_MS: '0' }),
    ]);
    demos.push(a, b);
    const jwt = await signToken(JWT_SECRET, { sub: 'frozen-user' });
    const complete = (demo: BuiltDemo) =>
      fetch(`${demo.url}/api/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'hold' }),
      });
    const slotsHeld = async () => {
      const keys = ((await redis.command('KEYS', '*~slots')) as string[]).filter((key) => key.includes('completions'));
      let held = 0;
      for (const key of keys) held += Number(await redis.command('ZCARD', key));
      return held;
    };

    const held = [complete(a), complete(a)];
    await eventually(async () => (await slotsHeld()) === 2, 10_000);
    await redis.stall();
    try {
      // A's other requests time out on the frozen Redis until its breaker opens; then the
      // two completions end (1.5 s) and their releases fail at once.
      await Promise.all(Array.from({ length: 6 }, () => fetch(`${a.url}/api/v1/models`).then((r) => r.arrayBuffer())));
      expect((await Promise.all(held)).map((response) => response.status)).toEqual([200, 200]);
    } finally {
      await redis.resume();
    }
    // Given back once A's connection is ready again (a probe a second), not in a minute.
    await eventually(async () => (await slotsHeld()) === 0, 5000);
    expect([(await complete(b)).status, (await complete(b)).status]).toEqual([200, 200]);
  }, 40_000);
});
