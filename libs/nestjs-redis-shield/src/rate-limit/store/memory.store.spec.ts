import { ManualClock } from '../../core/clock.js';
import { WINDOW_EPOCH_MS } from '../engine/algorithms/algorithm.js';
import { buildPolicy } from '../engine/policy.js';
import { rateLimitHeaders } from '../engine/rate-limit-headers.js';
import { RATE_LIMIT_ALGORITHMS } from '../engine/algorithms/registry.js';
import { summarize } from '../engine/summarize.js';
import { MemoryRateLimitStore } from './memory.store.js';

const policy = buildPolicy('p', { tiers: { minute: { limit: 2, windowMs: 60_000 } } }, 'fixed-window');

describe('MemoryRateLimitStore', () => {
  let clock: ManualClock;
  let store: MemoryRateLimitStore;

  beforeEach(() => {
    clock = new ManualClock(Date.parse('2031-01-01T00:00:00Z'));
    store = new MemoryRateLimitStore({ clock, maxClients: 3 });
  });

  afterEach(() => store.close());

  const consume = (clientId: string) => store.consume({ clientId, policies: [policy], cost: 1 });

  it('keeps at most maxClients, dropping the least recently seen', async () => {
    await consume('a');
    await consume('b');
    await consume('c');
    await consume('a'); // a is now the most recent; b the least
    await consume('d');
    expect(store.size).toBe(3);
    // b was forgotten (fresh quota); a kept its count.
    expect((await consume('b')).tiers[0].remaining).toBe(1);
    expect((await consume('a')).allowed).toBe(false);
  });

  it('sweeps expired buckets (twice the longest window) without a timer per key', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (let i = 0; i < 3; i++) await consume(`client-${i}`);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(timersBefore);
    clock.advance(120_000 - 1);
    store.sweep();
    expect(store.size).toBe(3);
    clock.advance(1);
    store.sweep();
    expect(store.size).toBe(0);
  });

  it.each([0, -1, 2.5, Number.NaN])(
    'refuses maxClients %p with SHIELD_E001 (it would keep no client, or all)',
    (max) => {
      expect(() => new MemoryRateLimitStore({ clock, maxClients: max })).toThrow(
        expect.objectContaining({
          code: 'SHIELD_E001',
          message: `nestjs-redis-shield: invalid option maxClients=${max}: expected a positive integer`,
        }),
      );
    },
  );

  it('peek creates no bucket', async () => {
    await store.peek({ clientId: 'ghost', policies: [policy] });
    expect(store.size).toBe(0);
  });

  describe.each(RATE_LIMIT_ALGORITHMS)('%s', (algorithm) => {
    // A 2-per-minute route on top of the default hour and burst tiers (issue 23 item 4).
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

    it('a 429 reports the admitting tiers as they stand, without the rejected cost', async () => {
      const request = { clientId: 'c', policies: [route], cost: 1 };
      await store.consume(request);
      await store.consume(request);
      const rejected = await store.consume(request);
      expect(rejected.allowed).toBe(false);
      expect(
        rejected.tiers.map(({ tier, allowed, remaining, retryAfterMs }) => [
          tier,
          allowed,
          remaining,
          retryAfterMs > 0,
        ]),
      ).toEqual([
        ['minute', false, 0, true],
        ['hour', true, 998, false],
        ['burst', true, 8, false],
      ]);
      const standing = await store.peek({ clientId: 'c', policies: [route] });
      expect(rejected.tiers.map((tier) => tier.resetMs)).toEqual(standing.tiers.map((tier) => tier.resetMs));
      expect(rateLimitHeaders(summarize(rejected)).RateLimit).toMatch(/"hour";r=998;t=\d+, "burst";r=8;/);
    });

    it('refuses a cost above a limit for good (retryAfterMs Infinity), counting nothing', async () => {
      await store.consume({ clientId: 'c', policies: [route], cost: 1 });
      const refused = await store.consume({ clientId: 'c', policies: [route], cost: 3 });
      expect(refused.allowed).toBe(false);
      expect(
        refused.tiers.map(({ tier, allowed, remaining, retryAfterMs }) => [tier, allowed, remaining, retryAfterMs]),
      ).toEqual([
        ['minute', false, 1, Infinity],
        ['hour', true, 999, 0],
        ['burst', true, 9, 0],
      ]);
      expect(summarize(refused)).toMatchObject({ tier: 'minute', retryAfterMs: Infinity, costExceedsLimit: true });
      expect((await store.consume({ clientId: 'c', policies: [route], cost: 1 })).tiers[0].remaining).toBe(0);
    });

    it('charges each policy its own cost when given one', async () => {
      const tokens = buildPolicy(
        `tokens-${algorithm}`,
        { tiers: { day: { limit: 10_000, windowMs: 86_400_000 } } },
        algorithm,
      );
      const decision = await store.consume({
        clientId: 'c',
        policies: [route, tokens],
        cost: 1,
        policyCosts: { [tokens.name]: 750 },
      });
      expect(decision.tiers.map((tier) => tier.remaining)).toEqual([1, 999, 9, 9_250]);
    });
  });

  describe('expiry after a clock step back', () => {
    const T = WINDOW_EPOCH_MS + 1_000 * 140_000; // a start of every window below

    it('keeps a bucket its ttl past the time it stands at, not past the stepped-back clock', async () => {
      const fixed = buildPolicy('fixed', { tiers: { only: { limit: 5, windowMs: 70_000 } } }, 'fixed-window');
      clock.set(T + 70_000 + 1);
      await store.consume({ clientId: 'c', policies: [fixed], cost: 1 });
      clock.set(T + 1); // a window back: the bucket stands at T + 70 s
      await store.consume({ clientId: 'c', policies: [fixed], cost: 1 });
      store.sweep(T + 70_000 + 140_000 - 1);
      expect(store.size).toBe(1);
      store.sweep(T + 70_000 + 140_000);
      expect(store.size).toBe(0);
    });

    it('but drops it before a window tier that started afresh could misread its index', async () => {
      // ttl 140 s; the 20 s tier stores its index modulo 10 and stays ahead for 1 window only.
      const tiers = { long: { limit: 5, windowMs: 70_000 }, short: { limit: 5, windowMs: 20_000 } };
      const policy = buildPolicy('mixed', { tiers }, 'sliding-window');
      clock.set(T + 79_000);
      await store.consume({ clientId: 'c', policies: [policy], cost: 1 });
      // 49 s back: the long tier stays ahead (it stands at T + 70 s, so its state matters
      // until T + 210 s), the short one is 2 windows behind its state and starts afresh in
      // the window from T + 20 s, whose index would read as ahead from T + 200 s.
      clock.set(T + 30_000);
      expect((await store.consume({ clientId: 'c', policies: [policy], cost: 1 })).tiers[1].remaining).toBe(4);
      store.sweep(T + 200_000 - 2);
      expect(store.size).toBe(1);
      store.sweep(T + 200_000 - 1);
      expect(store.size).toBe(0);
    });
  });
});
