import { CONCURRENCY_RETRY_MS, LeaseTokens, slotVerdict } from './concurrency.js';
import { buildPolicy } from './policy.js';
import { rateLimitHeaders } from './rate-limit-headers.js';
import type { TierResult } from './rate-limit.types.js';
import { summarize } from './summarize.js';

describe('slotVerdict', () => {
  it('admits while a slot is free and rejects with a 1 s wait when none is', () => {
    expect(slotVerdict(0, { limit: 2 }, true)).toEqual({ allowed: true, remaining: 1, resetMs: 0, retryAfterMs: 0 });
    expect(slotVerdict(1, { limit: 2 }, true)).toEqual({ allowed: true, remaining: 0, resetMs: 0, retryAfterMs: 0 });
    expect(slotVerdict(2, { limit: 2 }, true)).toEqual({
      allowed: false,
      remaining: 0,
      resetMs: CONCURRENCY_RETRY_MS,
      retryAfterMs: CONCURRENCY_RETRY_MS,
    });
  });

  it('never rejects a request that takes no slot, and reports the free slots', () => {
    expect(slotVerdict(5, { limit: 2 }, false)).toEqual({ allowed: true, remaining: 0, resetMs: 0, retryAfterMs: 0 });
    expect(slotVerdict(1, { limit: 2 }, false).remaining).toBe(1);
  });
});

describe('LeaseTokens', () => {
  it('never hands out a token twice, and tokens of two instances differ', () => {
    const a = new LeaseTokens('a');
    const b = new LeaseTokens('b');
    const tokens = new Set([...Array.from({ length: 1000 }, () => a.take()), b.take()]);
    expect(tokens.size).toBe(1001);
  });
});

describe('concurrency tiers in policies', () => {
  it('builds one beside the rate tiers, with the default lease', () => {
    const policy = buildPolicy(
      'p',
      { tiers: { minute: { limit: 5, windowMs: 60_000 }, inflight: { kind: 'concurrency', limit: 2 } } },
      'fixed-window',
    );
    expect(policy.tiers.map((tier) => tier.name)).toEqual(['minute']);
    expect(policy.concurrency).toEqual({ name: 'inflight', limit: 2, leaseMs: 60_000 });
    expect(buildPolicy('q', { tiers: { only: { kind: 'concurrency', limit: 1, leaseMs: 500 } } }, 'gcra')).toEqual({
      name: 'q',
      tiers: [],
      shadow: false,
      concurrency: { name: 'only', limit: 1, leaseMs: 500 },
    });
  });

  it.each([
    [
      { a: { kind: 'concurrency', limit: 0 } },
      /policies.p.tiers.a.limit=0: expected a positive integer, at most 1000000/,
    ],
    [{ a: { kind: 'concurrency', limit: 1, leaseMs: 0 } }, /policies.p.tiers.a.leaseMs=0/],
    [{ a: { kind: 'concurrency', limit: 1, leaseMs: 86_400_001 } }, /leaseMs=86400001/],
    [{ a: { kind: 'concurrency', limit: 1, windowMs: 1000 } }, /a.windowMs=1000: expected none: a concurrency tier/],
    [{ a: { kind: 'concurrency', limit: 1, algorithm: 'gcra' } }, /a.algorithm="gcra": expected none/],
    [
      { a: { kind: 'concurrency', limit: 1 }, b: { kind: 'concurrency', limit: 2 } },
      /policies.p.tiers.b.kind="concurrency": expected no second concurrency tier \(a is one\)/,
    ],
    [
      { a: { kind: 'burst', limit: 1, windowMs: 1000 } },
      /policies.p.tiers.a.kind="burst": expected one of rate, concurrency/,
    ],
  ])('refuses the tiers %j', (tiers, message) => {
    expect(() => buildPolicy('p', { tiers } as never, 'fixed-window')).toThrow(message);
  });
});

describe('concurrency tiers in summaries and headers', () => {
  const rate: TierResult = {
    policy: 'default',
    tier: 'minute',
    limit: 60,
    windowMs: 60_000,
    shadow: false,
    allowed: true,
    remaining: 50,
    resetMs: 30_000,
    retryAfterMs: 0,
  };
  const slots = (allowed: boolean): TierResult => ({
    policy: 'Ctrl.run:concurrency',
    tier: 'concurrency',
    kind: 'concurrency',
    limit: 2,
    windowMs: 0,
    shadow: false,
    allowed,
    remaining: 0,
    resetMs: allowed ? 0 : 1000,
    retryAfterMs: allowed ? 0 : 1000,
  });
  const now = 1_800_000_000_000;

  it('an admitted request is summarised by its rate tiers; the draft fields never list a concurrency tier', () => {
    const result = summarize({ allowed: true, nowMs: now, tiers: [rate, slots(true)] });
    expect(result).toMatchObject({ policy: 'default', tier: 'minute', remaining: 50 });
    expect(rateLimitHeaders(result)).toEqual({
      'X-RateLimit-Limit': '60',
      'X-RateLimit-Remaining': '50',
      'X-RateLimit-Reset': String(Math.ceil((now + 30_000) / 1000)),
      'RateLimit-Policy': '"minute";q=60;w=60',
      RateLimit: '"minute";r=50;t=30',
    });
  });

  it('a concurrency rejection names its policy and waits 1 s; a route with only slots still gets the legacy headers', () => {
    const rejected = summarize({ allowed: false, nowMs: now, tiers: [rate, slots(false)] });
    expect(rejected).toMatchObject({ policy: 'Ctrl.run:concurrency', tier: 'concurrency', retryAfterMs: 1000 });
    const alone = summarize({ allowed: true, nowMs: now, tiers: [slots(true)] });
    expect(alone).toMatchObject({ limit: 2, remaining: 0 });
    expect(Object.keys(rateLimitHeaders(alone))).toEqual([
      'X-RateLimit-Limit',
      'X-RateLimit-Remaining',
      'X-RateLimit-Reset',
    ]);
  });
});
