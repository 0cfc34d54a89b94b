import {
  buildPolicy,
  ManualClock,
  MemoryRateLimitStore,
  RATE_LIMIT_ALGORITHMS,
  type RateLimitPolicy,
  type TierResult,
} from 'nestjs-redis-shield';
import { type RedisServer, startRedis } from '../../harness/index.js';
import { EXACT_LIMITS, EXACT_WINDOWS_MS, exactWalk, walkTiers } from './exact-walk.js';
import { type LimiterApp, startLimiter } from './setup.js';

/** Every algorithm, limit and window of the supported ranges' grid (the memory twin: stores/large-limits.spec.ts). */
const GRID = RATE_LIMIT_ALGORITHMS.flatMap((algorithm) =>
  EXACT_LIMITS.flatMap((limit) => EXACT_WINDOWS_MS.map((windowMs) => [algorithm, limit, windowMs] as const)),
);

const outcome = ({ allowed, remaining, resetMs, retryAfterMs }: TierResult) => ({
  allowed,
  remaining,
  resetMs,
  retryAfterMs,
});

let server: RedisServer;
let limiter: LimiterApp;
const clock = new ManualClock(0);

beforeAll(async () => {
  server = await startRedis();
  limiter = await startLimiter({ url: server.url }, { clock });
});

afterAll(async () => {
  await limiter?.close();
  await server?.stop();
});

describe('the Redis script is exact for every supported limit, window and cost', () => {
  it.each(GRID)(
    '%s, limit %d per %d ms, matches the reference model over a random walk',
    async (algorithm, limit, windowMs) => {
      const tiers = walkTiers(algorithm, limit, windowMs);
      const policy: RateLimitPolicy = buildPolicy(
        'exact',
        { tiers: Object.fromEntries(tiers.map((tier, t) => [`t${t}`, tier] as const)) },
        algorithm,
      );
      const clientId = `user:exact-${algorithm}-${limit}-${windowMs}`;
      const { store, connection } = limiter;
      const mismatches = await exactWalk(
        {
          consume: async (nowMs, cost) => {
            clock.set(nowMs);
            return (await store.consume({ clientId, policies: [policy], cost })).tiers.map(outcome);
          },
          peek: async (nowMs) => {
            clock.set(nowMs);
            return (await store.peek({ clientId, policies: [policy] })).tiers.map(outcome);
          },
          // Redis expires the key on its own clock, which this test's clock outruns.
          expire: async () => void (await connection.client.del(connection.keys.rateLimit(clientId, policy.name))),
        },
        {
          tiers,
          seed: limit * 5 + windowMs * 3,
          steps: 150,
          startMs: Date.parse('2031-03-01T00:00:00Z') + 104_729,
        },
      );
      expect(mismatches).toEqual([]);
    },
  );
});

describe('a running tier whose limit changes (its state carries over: the field ignores the limit)', () => {
  it.each(RATE_LIMIT_ALGORITHMS)('%s: memory and Redis agree while the limit goes 7, 3, 10^9, 2', async (algorithm) => {
    const memory = new MemoryRateLimitStore({ clock });
    const clientId = `user:changing-${algorithm}`;
    const startMs = Date.parse('2031-05-01T00:00:00Z');
    try {
      // [limit, ms after start, cost]: GCRA's 4 × 1000/7 ms leave a remainder of 3/7 ms,
      // which the limit of 3 cannot express (it rounds the arrival time up to the next ms).
      for (const [limit, offsetMs, cost] of [
        [7, 0, 3],
        [7, 1, 1],
        [3, 2, 1],
        [3, 150, 1],
        [1_000_000_000, 151, 500_000_000],
        [2, 152, 1],
        [2, 700, 2],
        [7, 1500, 3],
      ]) {
        clock.set(startMs + offsetMs);
        const policy = buildPolicy('changing', { tiers: { only: { limit, windowMs: 1000 } } }, algorithm);
        const request = { clientId, policies: [policy], cost };
        const [fromMemory, fromRedis] = await Promise.all([memory.consume(request), limiter.store.consume(request)]);
        expect(fromRedis).toEqual(fromMemory);
        expect(fromRedis.tiers[0].remaining).toBeLessThanOrEqual(limit);
      }
    } finally {
      memory.close();
    }
  });
});

describe('numbers of 10^14 ms and more (the script replies in text, where Lua writes them with 14 digits)', () => {
  it.each(RATE_LIMIT_ALGORITHMS)('%s: memory and Redis agree at a clock past 10^15 ms', async (algorithm) => {
    const memory = new MemoryRateLimitStore({ clock });
    const clientId = `user:far-${algorithm}`;
    const policy = buildPolicy(
      'far',
      { tiers: { day: { limit: 1_000_000_000, windowMs: 86_400_000 }, second: { limit: 3, windowMs: 1000 } } },
      algorithm,
    );
    try {
      for (const [offsetMs, cost] of [
        [0, 1],
        [1, 2],
        [2, 1],
        [1001, 1],
      ]) {
        clock.set(2 ** 50 + 12_345 + offsetMs);
        const request = { clientId, policies: [policy], cost };
        const [fromMemory, fromRedis] = await Promise.all([memory.consume(request), limiter.store.consume(request)]);
        expect(fromRedis).toEqual(fromMemory);
        expect(fromRedis.nowMs).toBe(2 ** 50 + 12_345 + offsetMs);
      }
    } finally {
      memory.close();
    }
  });
});
