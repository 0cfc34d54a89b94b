import {
  buildPolicy,
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
  type RateLimitPolicy,
  type RateLimitStoreDecision,
} from 'nestjs-redis-shield';
import { rateLimitHeaders } from '../../../libs/nestjs-redis-shield/src/rate-limit/engine/rate-limit-headers.js';
import { summarize } from '../../../libs/nestjs-redis-shield/src/rate-limit/engine/summarize.js';
import { AdmissionLog, clockWalk, guaranteeViolations } from './clock-walk.js';
import { storeTargets } from './setup.js';

const N = 5;
const W = 10_000;
/** An instant aligned to a window start, so window arithmetic in the tests is plain. */
const T0 = Math.ceil(Date.parse('2031-01-01T00:00:00Z') / W) * W;

const targets = storeTargets(T0);

let clientCounter = 0;
/** A fresh client per test, so tests never share buckets. */
const freshClient = () => `ip:198.51.100.${++clientCounter}-${Date.now()}`;

function policyOf(algorithm: RateLimitAlgorithmName, limit = N, windowMs = W): RateLimitPolicy {
  return buildPolicy(`conf-${algorithm}`, { tiers: { only: { limit, windowMs } } }, algorithm);
}

const targetNames = ['memory', 'redis', 'cluster'];

describe.each(targetNames)('conformance on the %s store', (targetName) => {
  const target = () => targets.find((candidate) => candidate.name === targetName)!;

  describe.each(RATE_LIMIT_ALGORITHMS)('%s', (algorithm) => {
    let client: string;
    let policy: RateLimitPolicy;
    const consume = (cost = 1) => target().store.consume({ clientId: client, policies: [policy], cost });
    const peek = () => target().store.peek({ clientId: client, policies: [policy] });
    const at = (offsetMs: number) => target().clock.set(T0 + offsetMs);
    const only = (decision: RateLimitStoreDecision) => decision.tiers[0];

    beforeEach(() => {
      client = freshClient();
      policy = policyOf(algorithm);
      at(0);
    });

    it('admits N at one instant, counting down, then rejects', async () => {
      for (let i = 1; i <= N; i++) {
        const decision = await consume();
        expect(decision.allowed).toBe(true);
        expect(only(decision)).toMatchObject({ allowed: true, remaining: N - i, limit: N, retryAfterMs: 0 });
      }
      const rejected = await consume();
      expect(rejected.allowed).toBe(false);
      expect(only(rejected)).toMatchObject({ allowed: false, remaining: 0 });
      expect(only(rejected).retryAfterMs).toBeGreaterThanOrEqual(1);
    });

    it('a rejection consumes nothing, and retryAfterMs is exact to the millisecond', async () => {
      for (let i = 0; i < N; i++) await consume();
      const { retryAfterMs } = only(await consume());
      for (let i = 0; i < 3; i++) expect(only(await consume()).retryAfterMs).toBe(retryAfterMs);
      at(retryAfterMs - 1);
      expect((await consume()).allowed).toBe(false);
      at(retryAfterMs);
      expect((await consume()).allowed).toBe(true);
    });

    it('restores the full quota after a quiet window', async () => {
      for (let i = 0; i < N; i++) await consume();
      at(2 * W);
      expect(only(await peek())).toMatchObject({ remaining: N, allowed: true });
      expect(only(await consume())).toMatchObject({ allowed: true, remaining: N - 1 });
    });

    it('charges cost > 1 and refuses a cost that does not fit without consuming', async () => {
      expect(only(await consume(3))).toMatchObject({ allowed: true, remaining: 2 });
      expect(only(await consume(3))).toMatchObject({ allowed: false, remaining: 2 });
      expect(only(await consume(2))).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('peek reports without counting', async () => {
      await consume(2);
      for (let i = 0; i < 5; i++) expect(only(await peek())).toMatchObject({ allowed: true, remaining: N - 2 });
    });

    it('reset forgets the client', async () => {
      for (let i = 0; i < N; i++) await consume();
      await target().store.reset(client, [policy]);
      expect(only(await consume())).toMatchObject({ allowed: true, remaining: N - 1 });
    });

    it('keeps its guarantee under a greedy client at window edges', async () => {
      // A client that tries every 250 ms for 4 windows, and twice more around each boundary.
      const admitted: number[] = [];
      const times = new Set<number>();
      for (let t = 0; t <= 4 * W; t += 250) times.add(t);
      for (let k = 1; k <= 4; k++) for (const d of [-2, -1, 0, 1]) times.add(k * W + d);
      for (const t of [...times].sort((a, b) => a - b)) {
        at(t);
        for (let burst = 0; burst < N + 1; burst++) {
          if ((await consume()).allowed) admitted.push(t);
        }
      }
      expect(admitted.length).toBeGreaterThan(N);
      const inRange = (from: number, to: number) => admitted.filter((t) => t >= from && t < to).length;
      if (algorithm === 'fixed-window' || algorithm === 'sliding-window') {
        for (let k = 0; k <= 4; k++) expect(inRange(k * W, (k + 1) * W)).toBeLessThanOrEqual(N);
        for (const start of admitted) expect(inRange(start, start + W)).toBeLessThanOrEqual(2 * N);
      } else {
        for (const from of admitted) {
          for (const to of admitted) {
            if (to < from) continue;
            const count = admitted.filter((t) => t >= from && t <= to).length;
            expect(count).toBeLessThanOrEqual(N + (N * (to - from)) / W + 1e-9);
          }
        }
      }
    }, 30_000);

    it('a cost above the limit is refused for good, counting nothing, while smaller costs pass', async () => {
      await consume(2);
      const refused = await consume(N + 1);
      expect(refused.allowed).toBe(false);
      expect(only(refused)).toMatchObject({ allowed: false, remaining: N - 2, retryAfterMs: Infinity });
      expect(only(refused).resetMs).toBe(only(await peek()).resetMs);
      expect(only(await consume(N - 2))).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('a 429 reports the admitting tiers without the rejected cost (issue 23 item 4)', async () => {
      // A 2-per-minute route on top of the default hour and burst tiers.
      const route = buildPolicy(
        `route-${algorithm}`,
        {
          tiers: {
            minute: { limit: 2, windowMs: 60_000 },
            hour: { limit: 1000, windowMs: 3_600_000 },
            burst: { limit: 10, windowMs: 10_000 },
          },
        },
        algorithm,
      );
      const request = { clientId: client, policies: [route], cost: 1 };
      for (let i = 0; i < 2; i++) expect((await target().store.consume(request)).allowed).toBe(true);
      const rejected = await target().store.consume(request);
      expect(rejected.allowed).toBe(false);
      const byTier = Object.fromEntries(rejected.tiers.map((tier) => [tier.tier, tier]));
      expect(byTier.minute).toMatchObject({ allowed: false, remaining: 0 });
      expect(byTier.hour).toMatchObject({ allowed: true, remaining: 998, retryAfterMs: 0 });
      expect(byTier.burst).toMatchObject({ allowed: true, remaining: 8, retryAfterMs: 0 });
      // Resets too (token bucket and GCRA resets depend on the level): as a peek sees them.
      const standing = await target().store.peek({ clientId: client, policies: [route] });
      expect(rejected.tiers.map((tier) => tier.resetMs)).toEqual(standing.tiers.map((tier) => tier.resetMs));
      const header = rateLimitHeaders(summarize(rejected)).RateLimit;
      expect(header).toContain('"hour";r=998;');
      expect(header).toContain('"burst";r=8;');
    });

    it('a shadow policy that rejects reports its standing; an enforced one is charged its own cost', async () => {
      const shadow = buildPolicy(
        `shadow-${algorithm}`,
        { shadow: true, tiers: { tight: { limit: 2, windowMs: W } } },
        algorithm,
      );
      const wide = buildPolicy(`wide-${algorithm}`, { tiers: { wide: { limit: 100, windowMs: W } } }, algorithm);
      const request = (policyCosts?: Record<string, number>) => ({
        clientId: client,
        policies: [policy, wide, shadow],
        cost: 1,
        policyCosts,
      });
      const first = await target().store.consume(request({ [wide.name]: 40, [shadow.name]: 3 }));
      expect(first.allowed).toBe(true);
      expect(first.tiers.map((tier) => [tier.tier, tier.allowed, tier.remaining])).toEqual([
        ['only', true, N - 1],
        ['wide', true, 60],
        // Not written (3 > 2: it could never admit), so it reports as it stands.
        ['tight', false, 2],
      ]);
      expect(first.tiers[2].retryAfterMs).toBe(Infinity);
      const second = await target().store.consume(request({ [shadow.name]: 2 }));
      expect(second.tiers.map((tier) => [tier.tier, tier.allowed, tier.remaining])).toEqual([
        ['only', true, N - 2],
        ['wide', true, 59],
        ['tight', true, 0],
      ]);
    });

    it('across a window boundary: fixed window admits 2N within 1 ms, the others do not', async () => {
      const burst = async () => {
        let admitted = 0;
        for (let i = 0; i < 2 * N; i++) if ((await consume()).allowed) admitted += 1;
        return admitted;
      };
      at(W - 1);
      expect(await burst()).toBe(N);
      at(W);
      // Fixed window's stated weakness (≤ 2N in a sliding window); the others carry the
      // first burst over the boundary.
      expect(await burst()).toBe(algorithm === 'fixed-window' ? N : 0);
    });
  });
});

describe('a clock that steps back', () => {
  const EPOCH = Date.parse('2025-01-01T00:00:00Z');

  // See clock-walk.ts for the invariant of each algorithm (on the bucket's own clock).
  it.each(RATE_LIMIT_ALGORITHMS.flatMap((algorithm) => [1, 2, 3].map((seed) => [algorithm, seed] as const)))(
    '%s keeps its guarantee, and memory and Redis agree at every step (seed %d)',
    async (algorithm, seed) => {
      const memory = targets.find((target) => target.name === 'memory')!;
      const redis = targets.find((target) => target.name === 'redis')!;
      const client = freshClient();
      const policy = buildPolicy(`steps-${algorithm}`, { tiers: { only: { limit: N, windowMs: W } } }, algorithm);
      const logs = { memory: new AdmissionLog(), redis: new AdmissionLog() };
      for (const { nowMs, cost } of clockWalk(seed, T0 + seed * 997, W, 300, N)) {
        memory.clock.set(nowMs);
        redis.clock.set(nowMs);
        const request = { clientId: client, policies: [policy], cost };
        const [fromMemory, fromRedis] = await Promise.all([
          memory.store.consume(request),
          redis.store.consume(request),
        ]);
        expect(fromRedis).toEqual(fromMemory);
        logs.memory.record(nowMs, cost, fromMemory.allowed);
        logs.redis.record(nowMs, cost, fromRedis.allowed);
      }
      expect(logs.redis.admissions.length).toBeGreaterThan(40);
      expect(guaranteeViolations(algorithm, logs.redis.admissions, N, W, EPOCH)).toEqual([]);
      expect(guaranteeViolations(algorithm, logs.memory.admissions, N, W, EPOCH)).toEqual([]);
    },
    30_000,
  );

  it('a written key lives its ttl past the time its bucket stands at, capped before an index could be misread', async () => {
    const redis = targets.find((target) => target.name === 'redis')!;
    const { client: redisClient, keys } = redis.connection!;
    const T = EPOCH + Math.ceil((T0 - EPOCH) / 140_000) * 140_000; // a start of every window below
    const pttlAfter = async (policy: RateLimitPolicy, times: number[]) => {
      const client = freshClient();
      for (const time of times) {
        redis.clock.set(time);
        expect((await redis.store.consume({ clientId: client, policies: [policy], cost: 1 })).allowed).toBe(true);
      }
      return redisClient.pttl(keys.rateLimit(client, policy.name));
    };
    // A window back: the bucket stands at T + 70 s, so the key lives until T + 210 s.
    const fixed = buildPolicy('ttl-fixed', { tiers: { only: { limit: 5, windowMs: 70_000 } } }, 'fixed-window');
    const extended = await pttlAfter(fixed, [T + 70_001, T + 1]);
    expect(extended).toBeLessThanOrEqual(209_999);
    expect(extended).toBeGreaterThan(209_999 - 1000);
    // The 20 s tier starts afresh (2 windows ahead; its index, modulo 10, allows 1) in the
    // window from T + 20 s, which would read as ahead from T + 200 s: the key is gone before.
    const tiers = { long: { limit: 5, windowMs: 70_000 }, short: { limit: 5, windowMs: 20_000 } };
    const mixed = buildPolicy('ttl-mixed', { tiers }, 'sliding-window');
    const capped = await pttlAfter(mixed, [T + 79_000, T + 30_000]);
    expect(capped).toBeLessThanOrEqual(169_999);
    expect(capped).toBeGreaterThan(169_999 - 1000);
  });

  // One tier: the key lives 2 windows and the index is stored modulo 10, so a bucket stays
  // ahead of a clock stepped back by up to 10 - 2 - 2 = 6 windows (the documented bound).
  it.each(
    targetNames.flatMap((name) =>
      (['fixed-window', 'sliding-window'] as const).flatMap((algorithm) =>
        [6, 7].map((windows) => [name, algorithm, windows] as const),
      ),
    ),
  )('%s, %s: a step back by %d windows', async (name, algorithm, windows) => {
    const target = targets.find((candidate) => candidate.name === name)!;
    const client = freshClient();
    const policy = buildPolicy(`bound-${algorithm}`, { tiers: { only: { limit: N, windowMs: W } } }, algorithm);
    target.clock.set(T0 + 20 * W);
    expect((await target.store.consume({ clientId: client, policies: [policy], cost: N })).allowed).toBe(true);
    target.clock.set(T0 + (20 - windows) * W);
    const stepped = await target.store.consume({ clientId: client, policies: [policy], cost: 1 });
    if (windows <= 6) {
      // Counting goes on in the stored window: the wait runs to its end (sliding window: and
      // until this window's count has decayed enough in the next, 1/N of it).
      const retryAfterMs = (windows + 1) * W + (algorithm === 'sliding-window' ? W / N : 0);
      expect(stepped.tiers[0]).toMatchObject({ allowed: false, remaining: 0, retryAfterMs });
    } else {
      expect(stepped.allowed).toBe(true); // beyond the bound: a stale state, the tier starts afresh
    }
  });
});

describe('the memory store and the Redis script decide identically', () => {
  // 2020 lies before the window epoch: negative window indexes must work too.
  it.each(
    RATE_LIMIT_ALGORITHMS.flatMap((algorithm) =>
      [T0, Date.parse('2020-02-29T23:59:58Z')].map((start) => [algorithm, start] as const),
    ),
  )('%s over a pseudo-random request sequence from %d', async (algorithm, start) => {
    const memory = targets.find((target) => target.name === 'memory')!;
    const redis = targets.find((target) => target.name === 'redis')!;
    const client = freshClient();
    const policy = buildPolicy(
      `parity-${algorithm}-${start}`,
      { tiers: { fast: { limit: 7, windowMs: 3_000 }, slow: { limit: 20, windowMs: 30_000 } } },
      algorithm,
    );
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let t = 0;
    for (let step = 0; step < 300; step++) {
      t += Math.floor(random() * 400);
      memory.clock.set(start + t);
      redis.clock.set(start + t);
      const cost = 1 + Math.floor(random() * 3);
      const request = { clientId: client, policies: [policy], cost };
      const [fromMemory, fromRedis] = await Promise.all([memory.store.consume(request), redis.store.consume(request)]);
      expect(fromRedis).toEqual(fromMemory);
    }
  });
});

describe('the stored window number', () => {
  // Window numbers count from 2025-01-01 (WINDOW_EPOCH_MS). A one-tier policy's key lives
  // two windows, so the script stores the number modulo 10.
  const EPOCH = Date.parse('2025-01-01T00:00:00Z');
  /** The start of a window whose number is 9 modulo 10: the next window's stored number wraps to 0. */
  const beforeWrap = EPOCH + (Math.floor((T0 - EPOCH) / W / 10) * 10 + 9) * W;

  it.each(['fixed-window', 'sliding-window'] as const)(
    '%s: is stored in one digit, and the previous window still counts across the wrap',
    async (algorithm) => {
      const memory = targets.find((target) => target.name === 'memory')!;
      const redis = targets.find((target) => target.name === 'redis')!;
      const connection = redis.connection!;
      const client = freshClient();
      const policy = buildPolicy(`wrap-${algorithm}`, { tiers: { only: { limit: N, windowMs: W } } }, algorithm);
      const stored = async () =>
        Object.values(await connection.client.hgetall(connection.keys.rateLimit(client, policy.name)));
      const admitted: number[] = [];
      for (const offset of [W - 3000, W - 1000, W + 500, W + 2000, W + 6000, 2 * W + 100]) {
        memory.clock.set(beforeWrap + offset);
        redis.clock.set(beforeWrap + offset);
        let admittedNow = false;
        for (let i = 0; i < 3; i++) {
          const request = { clientId: client, policies: [policy], cost: 1 };
          const [fromMemory, fromRedis] = await Promise.all([
            memory.store.consume(request),
            redis.store.consume(request),
          ]);
          expect(fromRedis).toEqual(fromMemory);
          if (fromRedis.allowed) admitted.push(offset);
          admittedNow ||= fromRedis.allowed;
        }
        // Written by an admitted request: window 9 before the boundary, 0 after it, never
        // the seven-digit window number.
        const [state] = await stored();
        if (admittedNow) expect(state).toMatch(new RegExp(`^${Math.floor(offset / W + 9) % 10}:\\d+(:\\d+)?$`));
      }
      // Sliding window carries the 5 of window 9 into window 0: none 0.5 s in (weight 4.75),
      // one 2 s in (weight 4), two more 6 s in (weight 2); fixed window starts from zero.
      const inWindowZero = admitted.filter((offset) => offset >= W && offset < 2 * W).length;
      expect(inWindowZero).toBe(algorithm === 'fixed-window' ? N : 3);
    },
  );
});
