import type { TierResult } from './rate-limit.types.js';
import { mostRestrictive, summarize } from './summarize.js';

const tier = (name: string, over: Partial<TierResult>): TierResult => ({
  policy: 'default',
  tier: name,
  limit: 10,
  windowMs: 60_000,
  shadow: false,
  allowed: true,
  remaining: 5,
  resetMs: 1000,
  retryAfterMs: 0,
  ...over,
});

describe('mostRestrictive', () => {
  it('picks the smallest remaining when admitted', () => {
    const tiers = [tier('a', { remaining: 5 }), tier('b', { remaining: 2 }), tier('c', { remaining: 9 })];
    expect(mostRestrictive(tiers, true)?.tier).toBe('b');
  });

  it('breaks ties by the latest reset', () => {
    const tiers = [tier('a', { remaining: 2, resetMs: 5000 }), tier('b', { remaining: 2, resetMs: 9000 })];
    expect(mostRestrictive(tiers, true)?.tier).toBe('b');
  });

  it('on a rejection, picks the rejecting tier with the longest wait', () => {
    const tiers = [
      tier('a', { allowed: false, remaining: 0, retryAfterMs: 3000 }),
      tier('b', { allowed: true, remaining: 0, resetMs: 99_000 }),
      tier('c', { allowed: false, remaining: 0, retryAfterMs: 8000 }),
    ];
    expect(mostRestrictive(tiers, false)?.tier).toBe('c');
  });

  it('on a rejection, picks a tier the cost can never pass (Infinity) over any finite wait', () => {
    const tiers = [
      tier('a', { allowed: false, remaining: 0, retryAfterMs: 3_600_000 }),
      tier('b', { allowed: false, remaining: 4, limit: 5, retryAfterMs: Infinity }),
      tier('c', { allowed: false, remaining: 0, retryAfterMs: 8000 }),
    ];
    expect(mostRestrictive(tiers, false)?.tier).toBe('b');
    expect(mostRestrictive([tiers[1], tiers[0]], false)?.tier).toBe('b');
    expect(summarize({ allowed: false, nowMs: 1, tiers })).toMatchObject({
      allowed: false,
      tier: 'b',
      limit: 5,
      remaining: 4,
      retryAfterMs: Infinity,
      costExceedsLimit: true,
    });
    expect(summarize({ allowed: false, nowMs: 1, tiers: [tiers[0]] }).costExceedsLimit).toBe(false);
  });

  it('does not flag a shadow tier the cost exceeds', () => {
    const tiers = [
      tier('real', { remaining: 4 }),
      tier('shadow', { allowed: false, shadow: true, retryAfterMs: Infinity }),
    ];
    expect(summarize({ allowed: true, nowMs: 1, tiers })).toMatchObject({ allowed: true, costExceedsLimit: false });
  });

  it('ignores shadow tiers', () => {
    const tiers = [tier('real', { remaining: 4 }), tier('shadow', { remaining: 0, shadow: true })];
    expect(mostRestrictive(tiers, true)?.tier).toBe('real');
  });

  it('summarises only-shadow decisions with empty fields', () => {
    expect(summarize({ allowed: true, nowMs: 1, tiers: [tier('s', { shadow: true })] })).toMatchObject({
      allowed: true,
      tier: '',
      limit: 0,
    });
  });
});
