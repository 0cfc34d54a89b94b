import { BlockCache } from './block-cache.js';
import { buildPolicy } from './policy.js';
import type { RateLimitResult } from './rate-limit.types.js';

const DEFAULT = buildPolicy('default', { tiers: { minute: { limit: 2, windowMs: 60_000 } } }, 'sliding-window');
const OTHER = buildPolicy('other', { tiers: { minute: { limit: 5, windowMs: 60_000 } } }, 'sliding-window');

function rejection(retryAfterMs: number, resetMs = 60_000): RateLimitResult {
  const tier = {
    policy: 'default',
    tier: 'minute',
    limit: 2,
    windowMs: 60_000,
    shadow: false,
    allowed: false,
    remaining: 0,
    resetMs,
    retryAfterMs,
  };
  return {
    allowed: false,
    limit: 2,
    remaining: 0,
    resetMs,
    retryAfterMs,
    policy: 'default',
    tier: 'minute',
    nowMs: 1_000,
    tiers: [tier],
  };
}

function setup(maxEntries = 10) {
  let now = 0;
  const cache = new BlockCache(maxEntries, () => now);
  return { cache, at: (ms: number) => (now = ms) };
}

describe('BlockCache', () => {
  it('repeats a rejection until its retry time, with every wait moved on', () => {
    const { cache, at } = setup();
    cache.remember('ip:1', [DEFAULT], 1, rejection(5_000));
    at(2_000);
    const repeated = cache.get('ip:1', [DEFAULT], 1)!;
    expect(repeated).toMatchObject({ allowed: false, retryAfterMs: 3_000, resetMs: 58_000, nowMs: 3_000 });
    expect(repeated.tiers[0]).toMatchObject({ retryAfterMs: 3_000, resetMs: 58_000, allowed: false });
    at(4_999);
    expect(cache.get('ip:1', [DEFAULT], 1)?.retryAfterMs).toBe(1);
    at(5_000); // the retry time: Redis decides again
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('ignores admissions and rejections without a retry time', () => {
    const { cache } = setup();
    cache.remember('ip:1', [DEFAULT], 1, { ...rejection(5_000), allowed: true });
    cache.remember('ip:2', [DEFAULT], 1, rejection(0));
    expect(cache.size).toBe(0);
  });

  it('keys by client and policy set, and lets a cheaper request than the rejected one ask Redis', () => {
    const { cache } = setup();
    cache.remember('ip:1', [DEFAULT], 3, rejection(5_000));
    expect(cache.get('ip:2', [DEFAULT], 3)).toBeUndefined();
    expect(cache.get('ip:1', [DEFAULT, OTHER], 3)).toBeUndefined();
    expect(cache.get('ip:1', [DEFAULT], 2)).toBeUndefined(); // might fit before the retry time
    expect(cache.get('ip:1', [DEFAULT], 3)).toBeDefined();
    expect(cache.get('ip:1', [DEFAULT], 9)).toBeDefined();
  });

  it('clear forgets every block of one client only', () => {
    const { cache } = setup();
    cache.remember('ip:1', [DEFAULT], 1, rejection(5_000));
    cache.remember('ip:1', [OTHER], 1, rejection(5_000));
    cache.remember('ip:10', [DEFAULT], 1, rejection(5_000));
    cache.clear('ip:1');
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    expect(cache.get('ip:1', [OTHER], 1)).toBeUndefined();
    expect(cache.get('ip:10', [DEFAULT], 1)).toBeDefined();
  });

  it('holds at most maxEntries blocks, dropping the oldest', () => {
    const { cache } = setup(3);
    for (let i = 0; i < 5; i++) cache.remember(`ip:${i}`, [DEFAULT], 1, rejection(5_000));
    expect(cache.size).toBe(3);
    expect(cache.get('ip:0', [DEFAULT], 1)).toBeUndefined();
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    expect(cache.get('ip:4', [DEFAULT], 1)).toBeDefined();
  });
});
