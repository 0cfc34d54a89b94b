import type { INestApplication } from '@nestjs/common';
import { hashId } from 'nestjs-redis-shield';
import { type Item, parseList } from 'structured-headers';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig, type RateLimitAlgorithmName } from '../src/config/load-config.js';
import { startRateLimitApp } from './fixtures/rate-limit-app.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { signToken } from './support/tokens.js';

// Every RateLimit and RateLimit-Policy field the guard sends, parsed with an RFC 9651 parser
// and held to draft-ietf-httpapi-ratelimit-headers-11: Lists of Items named by quoted
// Strings; `q` (required) and `w` Integers on the policy, `r` (required, at most `q`) and
// `t` Integers on the limit, `pk` a Byte Sequence; on a 429, `Retry-After` not earlier than
// the effective window of a rejecting policy. Over tiers, plans, costs and a cache hit, whose
// fields are the current request's.

const JWT_SECRET = 'fields-e2e-jwt-secret-0123456789abcdef0123456789';
const HASH_SECRET = 'fields-e2e-ip-hash-secret-0123456789abcdef';
/** The fixture app's `hashSecret` (test/fixtures/rate-limit-app.ts). */
const FIXTURE_HASH_SECRET = 'rate-limit-e2e';

/** One parsed Item: its name and parameters. */
interface Member {
  name: string;
  params: Map<string, Item[0]>;
}

/** The draft fields of one response, parsed and checked. */
interface Fields {
  policy: Map<string, Member>;
  limits: Map<string, Member>;
}

/** The members of a List field, each a String-named Item (never a Token or an Inner List). */
function members(value: string | undefined, field: string): Member[] {
  expect(typeof value).toBe('string');
  const list = parseList(value!);
  expect(list.length).toBeGreaterThan(0);
  return list.map((member) => {
    const [name, params] = member;
    // A quoted String, not a Token nor an Inner List (draft-11 §3, §4.1).
    if (typeof name !== 'string') throw new Error(`${field} names a policy with ${String(name)}: not a String`);
    return { name, params };
  });
}

/** A parameter that must be an Integer of at least `min` when present (required when `required`). */
function integerParam(member: Member, key: string, min: number, required: boolean): number | undefined {
  const value = member.params.get(key);
  if (value === undefined) {
    if (required) throw new Error(`"${member.name}" lacks its required ${key}`);
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`"${member.name}";${key}=${String(value)}: not an Integer >= ${min}`);
  }
  return value;
}

/** `pk`, when present, is a Byte Sequence. */
function partitionKey(member: Member): ArrayBuffer | undefined {
  const pk = member.params.get('pk');
  if (pk !== undefined && !(pk instanceof ArrayBuffer)) throw new Error(`"${member.name}";pk is not a Byte Sequence`);
  return pk;
}

/** Names are unique within a field (a repeated field, e.g. a cached copy added to ours, would repeat them). */
function byName(list: Member[], field: string): Map<string, Member> {
  const map = new Map(list.map((member) => [member.name, member]));
  if (map.size !== list.length) throw new Error(`${field} repeats a policy: ${list.map((m) => m.name).join(', ')}`);
  return map;
}

/**
 * Parses and checks both fields of `response` against draft-11. `cost` is what the request
 * costs in a policy's quota: on a 429, every policy with less available (`r < cost`) rejected
 * it, and `Retry-After` must not be earlier than its effective window `t`.
 */
function checkFields(response: request.Response, cost: (name: string) => number = () => 1): Fields {
  const policy = byName(members(response.headers['ratelimit-policy'], 'RateLimit-Policy'), 'RateLimit-Policy');
  for (const member of policy.values()) {
    integerParam(member, 'q', 0, true);
    integerParam(member, 'w', 1, false);
    const unit = member.params.get('qu');
    if (unit !== undefined) expect(typeof unit).toBe('string');
    partitionKey(member);
  }
  const limits = byName(members(response.headers.ratelimit, 'RateLimit'), 'RateLimit');
  for (const member of limits.values()) {
    const declared = policy.get(member.name);
    if (!declared) throw new Error(`RateLimit names "${member.name}", which RateLimit-Policy does not declare`);
    const r = integerParam(member, 'r', 0, true)!;
    expect(r).toBeLessThanOrEqual(declared.params.get('q') as number);
    integerParam(member, 't', 0, false);
    partitionKey(member);
  }
  if (response.status === 429) {
    const retryAfter = Number(response.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
    const rejecting = [...limits.values()].filter((member) => (member.params.get('r') as number) < cost(member.name));
    expect(rejecting.length).toBeGreaterThan(0);
    for (const member of rejecting) {
      const t = member.params.get('t') as number;
      if (t > retryAfter) throw new Error(`"${member.name}";t=${t} ends after Retry-After: ${retryAfter}`);
    }
  }
  return { policy, limits };
}

/** The `r` of every policy in a parsed RateLimit field. */
const available = (fields: Fields) =>
  Object.fromEntries([...fields.limits.values()].map((member) => [member.name, member.params.get('r') as number]));

async function startDemo(adapter: HttpAdapterName, env: Record<string, string>): Promise<INestApplication> {
  const result = loadConfig({ JWT_SECRET, IP_HASH_SECRET: HASH_SECRET, ...env });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  const app = await createApp(result.config, { logger: false, adapter });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Sends `count` GETs of `path` one after another. */
async function gets(url: string, path: string, count: number, headers: Record<string, string> = {}) {
  const responses: request.Response[] = [];
  for (let i = 0; i < count; i++) responses.push(await request(url).get(path).set(headers));
  return responses;
}

describe.each<HttpAdapterName>(['express', 'fastify'])('RateLimit fields (draft-11) on %s', (adapter) => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  describe('the demo', () => {
    let app: INestApplication;
    let url: string;

    beforeAll(async () => {
      app = await startDemo(adapter, { REDIS_URL: redis.url, RATE_LIMIT_BURST: '3' });
      url = await app.getUrl();
    });

    afterAll(async () => {
      await app?.close();
    });

    it('every field parses and keeps the rules over tiers, plans, costs and 429s', async () => {
      const free = `Bearer ${await signToken(JWT_SECRET, { sub: 'fields-free' })}`;
      const pro = `Bearer ${await signToken(JWT_SECRET, { sub: 'fields-pro', plan: 'pro' })}`;
      const writer = `Bearer ${await signToken(JWT_SECRET, { sub: 'fields-writer', plan: 'pro' })}`;

      const anonymous = await gets(url, '/api/v1/models', 4);
      expect(anonymous.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      const freeUser = await gets(url, '/api/v1/models', 4, {
        Authorization: free,
        Accept: 'application/problem+json',
      });
      expect(freeUser.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      const proUser = await gets(url, '/api/v1/models', 4, { Authorization: pro });
      expect(proUser.every((r) => r.status === 200)).toBe(true);
      for (const response of [...anonymous, ...freeUser, ...proUser]) checkFields(response);

      // Plans: the pro variant's quotas, under the same names.
      const quotas = (response: request.Response) =>
        Object.fromEntries([...checkFields(response).policy.values()].map((m) => [m.name, m.params.get('q')]));
      expect(quotas(freeUser[0])).toEqual({ minute: 60, hour: 1000, burst: 3 });
      expect(quotas(proUser[0])).toEqual({ minute: 600, hour: 10000, burst: 30 });

      // Costs: 1 + floor(max_tokens / 1000) in completions, 1 in the default policy.
      const post = (maxTokens: number) =>
        request(url)
          .post('/api/v1/completions')
          .set('Authorization', writer)
          .send({ prompt: 'hi', max_tokens: maxTokens });
      const costOf = (maxTokens: number) => (name: string) =>
        name === 'completions.minute' ? 1 + Math.floor(maxTokens / 1000) : 1;
      const spent: Array<[request.Response, number]> = [];
      for (const maxTokens of [4500, 3999, 2000]) spent.push([await post(maxTokens), maxTokens]);
      expect(spent.map(([response]) => response.status)).toEqual([200, 200, 429]);
      for (const [response, maxTokens] of spent) checkFields(response, costOf(maxTokens));
      const [first, second, rejected] = spent.map(([response, maxTokens]) => checkFields(response, costOf(maxTokens)));
      expect([...first.policy.keys()]).toEqual(['minute', 'hour', 'burst', 'completions.minute']);
      expect(available(first)['completions.minute']).toBe(5);
      expect(available(second)['completions.minute']).toBe(1);
      // The rejected request (cost 3 > 1 left) counted nothing anywhere.
      expect(available(rejected)).toEqual(available(second));
    });

    it('a cache HIT carries the current request’s fields, one of each, not the stored response’s', async () => {
      const reader = { Authorization: `Bearer ${await signToken(JWT_SECRET, { sub: 'fields-reader' })}` };
      // A query of its own: a shared entry no earlier test stored (in Redis or the L1).
      const [miss, hit] = await gets(url, '/api/v1/models?fields=cache-hit', 2, reader);
      expect([miss.headers['x-cache-status'], hit.headers['x-cache-status']]).toEqual(['MISS', 'HIT']);
      expect(hit.text).toBe(miss.text);
      const stored = available(checkFields(miss));
      const served = available(checkFields(hit));
      expect(Object.keys(served)).toEqual(['minute', 'hour', 'burst']);
      for (const name of Object.keys(stored)) expect(served[name]).toBe(stored[name] - 1);
      expect(hit.headers['ratelimit-policy']).toBe(miss.headers['ratelimit-policy']);
    });

    it('sends no partition key unless asked', async () => {
      const response = await request(url).get('/api/v1/models/gpt-4');
      const { policy, limits } = checkFields(response);
      for (const member of [...policy.values(), ...limits.values()]) expect(member.params.has('pk')).toBe(false);
    });
  });

  it.each<RateLimitAlgorithmName>(['sliding-window', 'fixed-window', 'token-bucket', 'gcra'])(
    'with %s, a 429’s Retry-After is not earlier than the rejecting tier’s t',
    async (algorithm) => {
      const app = await startDemo(adapter, {
        REDIS_URL: redis.url,
        RATE_LIMIT_ALGORITHM: algorithm,
        RATE_LIMIT_BURST: '2',
        RATE_LIMIT_BURST_WINDOW_SECONDS: '30',
      });
      try {
        const client = { Authorization: `Bearer ${await signToken(JWT_SECRET, { sub: `fields-${algorithm}` })}` };
        const responses = await gets(await app.getUrl(), '/api/v1/models', 4, client);
        expect(responses.map((r) => r.status)).toEqual([200, 200, 429, 429]);
        for (const response of responses) checkFields(response);
        for (const rejected of responses.slice(2)) {
          const burst = checkFields(rejected).limits.get('burst')!;
          expect(burst.params.get('r')).toBe(0);
          expect(burst.params.get('t') as number).toBeGreaterThanOrEqual(1);
        }
      } finally {
        await app.close();
      }
    },
  );

  it('the partition key, when enabled: a Byte Sequence of a keyed hash, per client, never the address', async () => {
    const app = await startRateLimitApp({
      adapter,
      redisUrl: redis.url,
      trustProxy: true,
      limits: { headers: { partitionKey: true } },
    });
    try {
      const url = await app.getUrl();
      const keyOf = (ip: string) =>
        Buffer.from(hashId(FIXTURE_HASH_SECRET, `partition:ip:${ip}`), 'base64url').subarray(0, 12);
      const clients = ['203.0.113.7', '198.51.100.23'];
      for (const ip of clients) {
        // /cost/strict-only: the default tiers and strict (2 per minute), which this costs 2.
        const responses = await gets(url, '/cost/strict-only', 2, { 'X-Forwarded-For': ip });
        expect(responses.map((r) => r.status)).toEqual([200, 429]);
        for (const response of responses) {
          const { policy, limits } = checkFields(response, (name) => (name === 'strict.minute' ? 2 : 1));
          expect([...limits.keys()]).toEqual(['minute', 'hour', 'burst', 'strict.minute']);
          // The policy field is the same for every client: no pk there.
          for (const member of policy.values()) expect(member.params.has('pk')).toBe(false);
          for (const member of limits.values()) {
            const pk = Buffer.from(partitionKey(member)!);
            expect(pk).toEqual(keyOf(ip));
            expect(pk.toString('latin1')).not.toContain(ip);
          }
          expect(response.headers.ratelimit).not.toContain(ip);
        }
      }
      expect(keyOf(clients[0])).not.toEqual(keyOf(clients[1]));
    } finally {
      await app.close();
    }
  });
});
