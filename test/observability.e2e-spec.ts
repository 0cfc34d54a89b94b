import type { INestApplication } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { RedisConnection } from 'nestjs-redis-shield';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { ViolationRecorder } from '../libs/nestjs-redis-shield/src/rate-limit/store/violation-recorder.js';
import request from 'supertest';
import { CONCURRENCY_RELEASE_LUA } from '../libs/nestjs-redis-shield/src/rate-limit/store/lua/concurrency-release.lua.js';
import { RATE_LIMIT_LUA } from '../libs/nestjs-redis-shield/src/rate-limit/store/lua/rate-limit.lua.js';
import { VIOLATIONS_APPEND_LUA } from '../libs/nestjs-redis-shield/src/rate-limit/store/lua/violations-append.lua.js';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { startRateLimitApp } from './fixtures/rate-limit-app.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { metricValue, parseMetrics, type Sample } from './support/prometheus.js';
import { signToken } from './support/tokens.js';

const JWT_SECRET = 'e2e-jwt-secret-0123456789abcdef0123456789';
const STREAM = 'rate_limit:violations';
const FLUSH_WAIT_MS = 1500; // one flush interval (1 s) and some slack
const BURST = 5;
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

const token = (sub: string, roles: string[] = []) => signToken(JWT_SECRET, { sub, roles });
/** The system API is limited by the default policy: the admin gets the `pro` plan's room. */
const adminToken = () => signToken(JWT_SECRET, { sub: 'ops-admin', roles: ['admin'], plan: 'pro' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An entry of `GET /system/rate-limit/violations`, as far as these tests read it. */
interface ListedViolation {
  client: string;
  count: number;
  timestamp: number;
  first_timestamp: number;
}

/** The stream's entries as `{ c, n, ... }` field maps, oldest first. */
async function streamEntries(redis: RedisServer): Promise<Record<string, string>[]> {
  const entries = (await redis.command('XRANGE', STREAM, '-', '+')) as [string, string[]][];
  return entries.map(([, fields]) =>
    Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]])),
  );
}

/** How many violations the stream's entries stand for (the sum of their counts). */
async function streamViolations(redis: RedisServer): Promise<number> {
  return (await streamEntries(redis)).reduce((sum, entry) => sum + Number(entry.n), 0);
}

/** The sum of the counts of listed entries. */
const total = (entries: readonly ListedViolation[]) => entries.reduce((sum, entry) => sum + entry.count, 0);

/** Sends `count` requests in waves of `concurrency`; returns their status codes. */
async function flood(count: number, send: () => request.Test, concurrency = 25): Promise<number[]> {
  const statuses: number[] = [];
  for (let sent = 0; sent < count; sent += concurrency) {
    const wave = Array.from({ length: Math.min(concurrency, count - sent) }, () => send());
    statuses.push(...(await Promise.all(wave)).map((response) => response.status));
  }
  return statuses;
}

describe.each<HttpAdapterName>(['express', 'fastify'])('observability of the demo on %s', (adapter) => {
  let redis: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let url: string;
  const logger = new CaptureLogger();

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startRespProxy(redis);
    const result = loadConfig({
      JWT_SECRET,
      IP_HASH_SECRET: 'e2e-ip-hash-secret-0123456789abcdef0123',
      REDIS_URL: proxy.url,
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      RATE_LIMIT_PER_MINUTE: '10000',
      RATE_LIMIT_PER_HOUR: '100000',
      RATE_LIMIT_BURST: String(BURST),
      // The test client is the proxy in front of the app: X-Forwarded-For is trusted.
      TRUST_PROXY: '127.0.0.1',
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger, adapter });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await redis?.stop();
  });

  beforeEach(async () => {
    // Nothing of an earlier test may land after the wipe.
    await app.get(ViolationRecorder).flush();
    await app.get(ResponseCacheWriter).flush();
    await redis.command('FLUSHALL'); // the test's own server, never the shared one
  });

  /** GET /metrics as Prometheus sends it: with an admin bearer token. */
  const getMetrics = async () =>
    request(url)
      .get('/metrics')
      .set('Authorization', `Bearer ${await adminToken()}`);

  async function scrape(): Promise<Sample[]> {
    const response = await getMetrics();
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(response.text);
  }

  /** How much each metric sample rose between two scrapes. */
  const delta = (before: Sample[], after: Sample[], name: string, labels: Record<string, string>) =>
    metricValue(after, name, labels) - metricValue(before, name, labels);

  const streamLength = async () => Number(await redis.command('XLEN', STREAM));

  describe('GET /metrics', () => {
    it('counts decisions and cache lookups by exactly the traffic sent, labelled by route template', async () => {
      const reader = await token('metrics-reader');
      const analyst = await token('metrics-analyst');
      const before = await scrape();

      const models = () => request(url).get('/api/v1/models/gpt-4').set('Authorization', `Bearer ${reader}`);
      expect((await models()).headers['x-cache-status']).toBe('MISS');
      await app.get(ResponseCacheWriter).flush();
      const rest = [];
      for (let i = 0; i < BURST + 2; i++) rest.push(await models());
      expect(rest.map((r) => r.status)).toEqual([200, 200, 200, 200, 429, 429, 429]);
      expect(rest.slice(0, 4).map((r) => r.headers['x-cache-status'])).toEqual(['HIT', 'HIT', 'HIT', 'HIT']);
      // A per-user route asked not to store: BYPASS.
      for (let i = 0; i < 2; i++) {
        const usage = await request(url)
          .get('/api/v1/analytics/usage')
          .set('Authorization', `Bearer ${analyst}`)
          .set('Cache-Control', 'no-store')
          .expect(200);
        expect(usage.headers['x-cache-status']).toBe('BYPASS');
      }

      const after = await scrape();
      const requests = 'shield_ratelimit_requests_total';
      const lookups = 'shield_cache_lookups_total';
      const model = '/api/v1/models/:id';
      const usage = '/api/v1/analytics/usage';
      expect(delta(before, after, requests, { route: model, outcome: 'allowed', fallback: 'false' })).toBe(5);
      expect(delta(before, after, requests, { route: model, outcome: 'rejected', fallback: 'false' })).toBe(3);
      expect(delta(before, after, requests, { route: usage, outcome: 'allowed' })).toBe(2);
      expect(delta(before, after, lookups, { route: model, status: 'MISS' })).toBe(1);
      expect(delta(before, after, lookups, { route: model, status: 'HIT' })).toBe(4);
      expect(delta(before, after, lookups, { route: model, status: 'BYPASS' })).toBe(0);
      expect(delta(before, after, lookups, { route: usage, status: 'BYPASS' })).toBe(2);
      const tiers = 'shield_ratelimit_tier_decisions_total';
      expect(delta(before, after, tiers, { policy: 'default', tier: 'burst', outcome: 'rejected' })).toBe(3);
      expect(delta(before, after, tiers, { policy: 'default', tier: 'minute', outcome: 'allowed' })).toBe(10);
      // Concrete paths never become labels.
      expect(after.some((sample) => Object.values(sample.labels).some((value) => value.includes('gpt-4')))).toBe(false);
      // Redis latency, connection state and stored entry sizes are there too.
      expect(
        metricValue(after, 'shield_redis_command_duration_seconds_count', { command: 'rate_limit' }),
      ).toBeGreaterThan(0);
      expect(
        metricValue(after, 'shield_redis_command_duration_seconds_count', { command: 'cache_read' }),
      ).toBeGreaterThan(0);
      expect(metricValue(after, 'shield_cache_entry_bytes_count', { route: model })).toBeGreaterThanOrEqual(1);
      expect(metricValue(after, 'shield_redis_up', { connection: 'default' })).toBe(1);
      expect(metricValue(after, 'shield_redis_circuit_open', { connection: 'default' })).toBe(0);
      expect(metricValue(after, 'shield_ratelimit_fallback_active', { connection: 'default' })).toBe(0);
      expect(after.some((sample) => sample.name === 'process_cpu_user_seconds_total')).toBe(true);
    });

    it('is neither rate-limited nor cached, and lives outside the api/v1 prefix', async () => {
      const admin = await adminToken();
      const statuses = await flood(BURST * 3, () =>
        request(url).get('/metrics').set('Authorization', `Bearer ${admin}`),
      );
      expect(new Set(statuses)).toEqual(new Set([200]));
      const response = await getMetrics();
      expect(response.headers['x-cache-status']).toBeUndefined();
      expect(response.headers['x-ratelimit-limit']).toBeUndefined();
      await request(url).get('/api/v1/metrics').expect(404);
    });

    it('asks for the admin bearer token: 401 without one or with a bad one, 403 for a user, 200 for an admin', async () => {
      const anonymous = await request(url).get('/metrics');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toEqual({ error: 'authentication required' });
      expect(anonymous.text).not.toContain('shield_');
      const forged = await signToken('not-the-jwt-secret-0123456789abcdef', { sub: 'ops-admin', roles: ['admin'] });
      const badSignature = await request(url).get('/metrics').set('Authorization', `Bearer ${forged}`);
      expect(badSignature.status).toBe(401);
      expect(badSignature.text).not.toContain('shield_');
      const expired = await signToken(JWT_SECRET, { sub: 'ops-admin', roles: ['admin'] }, { expiresIn: -60 });
      expect((await request(url).get('/metrics').set('Authorization', `Bearer ${expired}`)).status).toBe(401);
      const user = await request(url)
        .get('/metrics')
        .set('Authorization', `Bearer ${await token('metrics-curious')}`);
      expect(user.status).toBe(403);
      expect(user.body).toEqual({ error: 'metrics access denied' });
      expect(user.text).not.toContain('shield_');
      const admin = await getMetrics();
      expect(admin.status).toBe(200);
      expect(admin.text).toContain('# TYPE shield_cache_entry_bytes histogram');
    });

    it("has no entry-size series of a per-user route: the size of one user's cached body is not exposed", async () => {
      const analyst = await token('size-watched-user');
      const usage = await request(url).get('/api/v1/analytics/usage').set('Authorization', `Bearer ${analyst}`);
      expect(usage.status).toBe(200);
      expect(usage.headers['x-cache-status']).toBe('MISS'); // stored, per user
      await request(url).get('/api/v1/models').set('Authorization', `Bearer ${analyst}`).expect(200); // shared
      await app.get(ResponseCacheWriter).flush();
      const samples = await scrape();
      expect(metricValue(samples, 'shield_cache_lookups_total', { route: '/api/v1/analytics/usage' })).toBeGreaterThan(
        0,
      );
      const sizeRoutes = new Set(
        samples.filter((sample) => sample.name.startsWith('shield_cache_entry_bytes')).map((s) => s.labels.route),
      );
      expect(sizeRoutes).toContain('/api/v1/models');
      expect(sizeRoutes).not.toContain('/api/v1/analytics/usage');
      expect(sizeRoutes).not.toContain('(per-user)');
    });
  });

  describe('GET /api/v1/health', () => {
    it('answers 200 concurrent calls with one PING per second at most, labelling the answer by its age', async () => {
      // The connection that carries the app's commands: the one a rate-limit script goes out on.
      proxy.reset();
      await request(url).get('/api/v1/models').expect(200);
      const [script] = proxy.commands.filter((c) => c.name === 'EVALSHA' || c.name === 'EVAL');
      proxy.reset();
      const started = Date.now();
      const responses = await Promise.all(Array.from({ length: 200 }, () => request(url).get('/api/v1/health')));
      const seconds = Math.ceil((Date.now() - started) / 1000);
      expect(responses.every((response) => response.status === 200 && response.body.status === 'ok')).toBe(true);
      const pings = proxy.commands.filter((c) => c.name === 'PING' && c.connection === script.connection);
      expect(pings.length).toBeGreaterThanOrEqual(1);
      expect(pings.length).toBeLessThanOrEqual(seconds + 1);
      const ages = responses.map((response) => response.body.redis.age_ms as number);
      expect(ages.every((age) => age >= 0 && age <= seconds * 1000)).toBe(true);
      expect(responses[0].body.redis).toEqual({
        status: 'up',
        latency_ms: expect.any(Number),
        age_ms: expect.any(Number),
      });
    });
  });

  describe('violation stream', () => {
    it('holds one entry per client and flush interval with its count, readable by admins only', async () => {
      const flooder = await token('stream-flooder');
      const statuses = await flood(BURST + 100, () =>
        request(url).get('/api/v1/models').set('Authorization', `Bearer ${flooder}`),
      );
      expect(statuses.filter((status) => status === 429)).toHaveLength(100);
      await sleep(FLUSH_WAIT_MS);
      expect(await streamViolations(redis)).toBe(100);
      // One entry per flush interval the flood spanned, not one per rejection.
      expect(await streamLength()).toBeLessThanOrEqual(5);

      const admin = await adminToken();
      const listed = await request(url)
        .get('/api/v1/system/rate-limit/violations?limit=1000')
        .set('Authorization', `Bearer ${admin}`)
        .expect(200);
      expect(listed.body.violations).toHaveLength(await streamLength());
      expect(total(listed.body.violations)).toBe(100);
      const [newest] = listed.body.violations;
      expect(newest).toEqual({
        at: new Date(newest.timestamp).toISOString(),
        timestamp: expect.any(Number),
        first_at: new Date(newest.first_timestamp).toISOString(),
        first_timestamp: expect.any(Number),
        count: expect.any(Number),
        client: expect.stringMatching(/^user:[A-Za-z0-9_-]{22}$/),
        policy: 'default',
        tier: 'burst',
        route: '/api/v1/models',
        shadow: false,
      });
      expect(newest.first_timestamp).toBeLessThanOrEqual(newest.timestamp);
      expect(new Set(listed.body.violations.map((v: ListedViolation) => v.client))).toEqual(new Set([newest.client]));
      const times = listed.body.violations.map((v: { timestamp: number }) => v.timestamp);
      expect(times).toEqual([...times].sort((a, b) => b - a));

      await request(url).get('/api/v1/system/rate-limit/violations').expect(401);
      const user = await token('not-an-admin');
      await request(url).get('/api/v1/system/rate-limit/violations').set('Authorization', `Bearer ${user}`).expect(403);
    });

    it("one client's flood answered by the block cache leaves a few counted entries and every other client's violations", async () => {
      const hashed = (ip: string) => `ip:${app.get(RedisConnection).keys.hashId(`ip:${ip}`)}`;
      const victim = '198.51.100.23';
      const attacker = '203.0.113.66';
      const anonymous = (ip: string) => () => request(url).get('/api/v1/models').set('X-Forwarded-For', ip);
      const victimStatuses = await flood(BURST + 3, anonymous(victim));
      expect(victimStatuses.filter((status) => status === 429)).toHaveLength(3);
      proxy.reset();
      const attackerStatuses = await flood(BURST + 2000, anonymous(attacker), 50);
      const rejected = attackerStatuses.filter((status) => status === 429).length;
      // (Exactly 2 000 unless the flood outlasted the burst window on a loaded machine.)
      expect(rejected).toBeGreaterThanOrEqual(2000 - BURST);
      // Answered without Redis: far fewer rate-limit scripts than rejections.
      const scripts = proxy.commands.filter((c) => c.name === 'EVALSHA' && c.args[0] === sha1(RATE_LIMIT_LUA));
      expect(scripts.length).toBeLessThan(100);
      await app.get(ViolationRecorder).flush();

      const listed = await request(url)
        .get('/api/v1/system/rate-limit/violations?limit=1000')
        .set('Authorization', `Bearer ${await adminToken()}`)
        .expect(200);
      const of = (ip: string) => listed.body.violations.filter((v: ListedViolation) => v.client === hashed(ip));
      // The victim is still listed, with every one of its rejections.
      expect(total(of(victim))).toBe(3);
      // The attacker: a handful of entries (one per flush interval) whose counts add up to its rejections.
      expect(of(attacker).length).toBeGreaterThanOrEqual(1);
      expect(of(attacker).length).toBeLessThanOrEqual(10);
      expect(total(of(attacker))).toBe(rejected);
      expect(await streamLength()).toBe(listed.body.violations.length);
      expect(await streamViolations(redis)).toBe(rejected + 3);
    });

    it('filters by since (Unix ms or ISO-8601) and limit; a bad since or limit is a 400 naming it', async () => {
      const admin = await adminToken();
      const first = await token('early-flooder');
      await flood(BURST + 20, () => request(url).get('/api/v1/models').set('Authorization', `Bearer ${first}`));
      await sleep(FLUSH_WAIT_MS);
      const since = Date.now();
      await sleep(5);
      const second = await token('late-flooder');
      await flood(BURST + 10, () => request(url).get('/api/v1/models').set('Authorization', `Bearer ${second}`));
      await sleep(FLUSH_WAIT_MS);
      expect(await streamViolations(redis)).toBe(30);

      const list = (query: string) =>
        request(url).get(`/api/v1/system/rate-limit/violations?${query}`).set('Authorization', `Bearer ${admin}`);
      const byMs = await list(`since=${since}`).expect(200);
      expect(total(byMs.body.violations)).toBe(10);
      expect(new Set(byMs.body.violations.map((v: { client: string }) => v.client)).size).toBe(1);
      expect(byMs.body.violations.every((v: { timestamp: number }) => v.timestamp >= since)).toBe(true);
      const byIso = await list(`since=${encodeURIComponent(new Date(since).toISOString())}`).expect(200);
      expect(byIso.body.violations).toEqual(byMs.body.violations);
      // Entries are per client and interval: the newest one is the late flooder's.
      const limited = await list('limit=1').expect(200);
      expect(limited.body.violations).toEqual(byMs.body.violations.slice(0, 1));

      for (const [query, name] of [
        ['since=yesterday', 'since'],
        ['since=2026-13-45T99:00:00Z', 'since'],
        ['limit=0', 'limit'],
        ['limit=1001', 'limit'],
        ['limit=ten', 'limit'],
      ]) {
        const response = await list(query).expect(400);
        expect(JSON.stringify(response.body.message)).toContain(name);
      }
    });
  });

  it('never shows a client IP, user id or token in logs, stream entries, metrics or the violations endpoint', async () => {
    const ip = '203.0.113.77';
    const userId = 'zebra-user-4f1c2e9a77';
    const jwt = await token(userId);
    const anonymous = await flood(BURST + 3, () => request(url).get('/api/v1/models').set('X-Forwarded-For', ip));
    const signedIn = await flood(BURST + 3, () =>
      request(url).get('/api/v1/models/gpt-4').set('X-Forwarded-For', ip).set('Authorization', `Bearer ${jwt}`),
    );
    expect([...anonymous, ...signedIn].filter((status) => status === 429)).toHaveLength(6);
    await sleep(FLUSH_WAIT_MS);

    const admin = await adminToken();
    const listed = await request(url)
      .get('/api/v1/system/rate-limit/violations')
      .set('Authorization', `Bearer ${admin}`)
      .expect(200);
    const byKind = (kind: string) =>
      total(listed.body.violations.filter((v: ListedViolation) => v.client.startsWith(`${kind}:`)));
    expect([byKind('ip'), byKind('user')]).toEqual([3, 3]);
    const scraped = await getMetrics();
    expect(scraped.status).toBe(200);
    const metrics = scraped.text;
    const stream = JSON.stringify(await redis.command('XRANGE', STREAM, '-', '+'));
    const logs = logger.lines.map((line) => line.message).join('\n');
    expect(logs).toMatch(/client=ip:[A-Za-z0-9_-]{22}\b/); // the clients were logged, hashed
    for (const secret of [ip, userId, jwt]) {
      expect(logs).not.toContain(secret);
      expect(stream).not.toContain(secret);
      expect(metrics).not.toContain(secret);
      expect(JSON.stringify(listed.body)).not.toContain(secret);
    }
  });

  it('sends at most one EVALSHA per limited request: metrics and the stream add no command per request', async () => {
    const caller = await token('counted-caller');
    proxy.reset();
    const startedAt = Date.now();
    const statuses = [];
    for (let i = 0; i < 15; i++) {
      statuses.push(
        (
          await request(url)
            .post('/api/v1/completions')
            .set('Authorization', `Bearer ${caller}`)
            .send({ prompt: 'hello' })
        ).status,
      );
    }
    // The default policy's burst (5) rejects first; completions (10 per minute) is counted in the same call.
    expect(statuses.filter((status) => status === 429)).toHaveLength(10);
    await sleep(FLUSH_WAIT_MS);
    const commands = proxy.commands;
    const rateLimit = commands.filter((c) => c.name === 'EVALSHA' && c.args[0] === sha1(RATE_LIMIT_LUA));
    const appends = commands.filter((c) => c.name === 'EVALSHA' && c.args[0] === sha1(VIOLATIONS_APPEND_LUA));
    // The completions policy's concurrency slot: released after each admitted response, off
    // the request path (EVAL the first time the connection runs the release script).
    const releases = commands.filter(
      (c) =>
        (c.name === 'EVALSHA' && c.args[0] === sha1(CONCURRENCY_RELEASE_LUA)) || c.args[0] === CONCURRENCY_RELEASE_LUA,
    );
    expect(releases).toHaveLength(5);
    // One per admitted request and one for the first rejection; the local block cache
    // answers the other nine rejections without Redis until the retry time.
    expect(rateLimit).toHaveLength(6);
    // The ten violations went out in one or two batches (flush interval boundaries), never one per request.
    expect(appends.length).toBeGreaterThanOrEqual(1);
    expect(appends.length).toBeLessThanOrEqual(2);
    const others = commands.filter((c) => !rateLimit.includes(c) && !appends.includes(c) && !releases.includes(c));
    // Only the cache statistics flush of earlier tests (one MULTI of HINCRBYs), the dashboard's
    // once-a-second transaction (HINCRBYs, its heartbeat HSET and the TTL's PEXPIRE), and the instance bus's
    // heartbeat (a PING per second on its subscriber connection, whatever the traffic), may
    // cross the proxy meanwhile.
    const statsFlush = new Set(['MULTI', 'HINCRBY', 'EXEC']);
    const dashboardHeartbeat = (c: { name: string; args: string[] }) =>
      (c.name === 'HSET' || c.name === 'PEXPIRE') && String(c.args[0]).endsWith('dashboard:counts');
    expect(others.filter((c) => !statsFlush.has(c.name) && c.name !== 'PING' && !dashboardHeartbeat(c))).toEqual([]);
    const heartbeats = Math.ceil((Date.now() - startedAt) / 1000) + 1;
    expect(others.filter((c) => c.name === 'PING').length).toBeLessThanOrEqual(heartbeats);
    // Per second, not per request: the statistics flush and the dashboard's, at most once a second each.
    expect(others.filter((c) => c.name === 'EXEC').length).toBeLessThanOrEqual(2 * heartbeats);
  });

  it('reports Redis down within 5 s of a stop, with the fallback active, and up again after a restart', async () => {
    const gauges = async () => {
      const samples = await scrape();
      return {
        up: metricValue(samples, 'shield_redis_up', { connection: 'default' }),
        fallback: metricValue(samples, 'shield_ratelimit_fallback_active', { connection: 'default' }),
      };
    };
    expect(await gauges()).toEqual({ up: 1, fallback: 0 });
    await redis.kill();
    const stoppedAt = Date.now();
    let state = await gauges();
    while (state.up !== 0 && Date.now() - stoppedAt < 5000) {
      await sleep(100);
      state = await gauges();
    }
    expect(state).toEqual({ up: 0, fallback: 1 });
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    // Requests keep being served by the fallback meanwhile, and are counted as such.
    await request(url).get('/api/v1/models').expect(200);
    expect(
      metricValue(await scrape(), 'shield_ratelimit_requests_total', { route: '/api/v1/models', fallback: 'true' }),
    ).toBeGreaterThanOrEqual(1);

    await redis.restart();
    const restartedAt = Date.now();
    while (state.up !== 1 && Date.now() - restartedAt < 15_000) {
      await sleep(100);
      state = await gauges();
    }
    expect(state).toEqual({ up: 1, fallback: 0 });
  });
});

describe('violation stream cap, shutdown flush and log bound', () => {
  let redis: RedisServer;
  let app: INestApplication;
  const logger = new CaptureLogger();

  beforeAll(async () => {
    redis = await startRedis();
    app = await startRateLimitApp({
      adapter: 'express',
      redisUrl: redis.url,
      trustProxy: true, // clients told apart by X-Forwarded-For
      limits: { violations: { maxLength: 100, flushIntervalMs: 200, log: { lines: 5, intervalMs: 1000 } } },
      logger,
    });
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('stays within its cap under one and a half times as many entries, keeping the newest', async () => {
    const url = await app.getUrl();
    // An entry per client and interval: 150 clients, each admitted 5 times (the burst) then rejected once.
    const clients = Array.from({ length: 150 }, (_, i) => `198.51.100.${i + 1}`);
    const statuses = (
      await Promise.all(
        clients.map((ip) => flood(5 + 1, () => request(url).get('/plain').set('X-Forwarded-For', ip), 1)),
      )
    ).flat();
    expect(statuses.filter((status) => status === 429)).toHaveLength(150);
    await sleep(600);
    expect(Number(await redis.command('XLEN', STREAM))).toBe(100);
    const newest = (await redis.command('XREVRANGE', STREAM, '+', '-', 'COUNT', '1')) as [string, string[]][];
    expect(newest[0][1]).toEqual(expect.arrayContaining(['p', 'default', 'r', '/plain', 'n', '1']));
  });

  it('logs at most 5 violation lines plus one summary per interval, and accounts for every violation', async () => {
    await redis.command('FLUSHALL'); // the test's own server
    await sleep(1100); // a fresh log interval
    const before = logger.lines.length;
    const started = Date.now();
    const statuses = await flood(5 + 1000, () => request(app.getHttpServer()).get('/plain'), 50);
    expect(statuses.filter((status) => status === 429)).toHaveLength(1000);
    const intervals = Math.ceil((Date.now() - started) / 1000) + 1;
    await sleep(1100); // the last interval's summary
    const lines = logger.lines.slice(before).filter((line) => line.context === 'RateLimit');
    const single = lines.filter((line) => line.message.startsWith('rate limit exceeded: client=ip:'));
    const summaries = lines.filter((line) => /more rate-limit violations? not logged one by one/.test(line.message));
    expect(lines).toHaveLength(single.length + summaries.length);
    expect(lines.length).toBeLessThanOrEqual(6 * intervals);
    const summarized = summaries.reduce((sum, line) => sum + Number(/^(\d+) more/.exec(line.message)![1]), 0);
    expect(single.length + summarized).toBe(1000);
  });

  it('flushes what is buffered on shutdown', async () => {
    await redis.command('FLUSHALL'); // the test's own server
    // No timer flush within the test: only shutdown can write these.
    const quiet = await startRateLimitApp({
      adapter: 'express',
      redisUrl: redis.url,
      limits: { violations: { flushIntervalMs: 600_000 } },
    });
    const statuses = await flood(5 + 7, () => request(quiet.getHttpServer()).get('/plain/other'));
    expect(statuses.filter((status) => status === 429)).toHaveLength(7);
    expect(Number(await redis.command('XLEN', STREAM))).toBe(0);
    await quiet.close();
    // One client, one route, one interval: one entry standing for the seven.
    expect(await streamEntries(redis)).toEqual([expect.objectContaining({ r: '/plain/other', n: '7' })]);
  });
});
