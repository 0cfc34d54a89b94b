import { buildPolicy, MAX_TIER_LIMIT, MAX_TIER_WINDOW_MS, PolicyRegistry } from './policy.js';
import { buildRegistry } from './rate-limit.options.js';

describe('policies', () => {
  it('builds the default policy from the documented defaults', () => {
    expect(buildRegistry({}).get('default')).toEqual({
      name: 'default',
      shadow: false,
      tiers: [
        { name: 'minute', limit: 60, windowMs: 60_000, algorithm: 'sliding-window' },
        { name: 'hour', limit: 1000, windowMs: 3_600_000, algorithm: 'sliding-window' },
        { name: 'burst', limit: 10, windowMs: 10_000, algorithm: 'sliding-window' },
      ],
    });
  });

  it('applies the module algorithm, a policy algorithm and a tier algorithm in that order', () => {
    const registry = buildRegistry({
      algorithm: 'fixed-window',
      policies: {
        p: {
          algorithm: 'gcra',
          tiers: { a: { limit: 1, windowMs: 1000 }, b: { limit: 1, windowMs: 1000, algorithm: 'token-bucket' } },
        },
      },
    });
    expect(registry.get('default').tiers[0].algorithm).toBe('fixed-window');
    expect(registry.get('p').tiers.map((t) => t.algorithm)).toEqual(['gcra', 'token-bucket']);
  });

  it.each([
    [{ tiers: {} }, /policies.p.tiers=0: expected at least one tier/],
    [{ tiers: { a: { limit: 0, windowMs: 1000 } } }, /policies.p.tiers.a.limit=0: expected a positive integer/],
    [{ tiers: { a: { limit: 1, windowMs: 1.5 } } }, /windowMs=1.5/],
    [{ tiers: { 'a b': { limit: 1, windowMs: 1000 } } }, /tier name="a b"/],
    [{ algorithm: 'leaky' as never, tiers: { a: { limit: 1, windowMs: 1000 } } }, /algorithm="leaky": expected one of/],
  ])('refuses %j', (definition, message) => {
    expect(() => buildPolicy('p', definition, 'sliding-window')).toThrow(message);
  });

  it('accepts the supported ranges: limits up to 10^9, windows from 1 ms to 31 days', () => {
    // Issue "Hold up in operation" item 1: the demo's pro plan (10 × 1 000 000 per hour) was refused.
    for (const [limit, windowMs] of [
      [10_000_000, 3_600_000],
      [1_000_000_000, 2_678_400_000],
      [1_000_000_000, 1],
      [1, 1],
    ]) {
      const tiers = { t: { limit, windowMs } };
      for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket', 'gcra'] as const) {
        expect(buildPolicy('p', { tiers }, algorithm).tiers[0]).toMatchObject({ limit, windowMs, algorithm });
      }
    }
    expect([MAX_TIER_LIMIT, MAX_TIER_WINDOW_MS]).toEqual([1_000_000_000, 31 * 24 * 3_600_000]);
  });

  it.each([
    [
      { limit: 1_000_000_001, windowMs: 1000 },
      'limit=1000000001: expected a positive integer, at most 1000000000 (units per window)',
    ],
    [
      { limit: 1, windowMs: 2_678_400_001 },
      'windowMs=2678400001: expected a positive integer, at most 2678400000 (ms: 1 ms to 31 days)',
    ],
    [{ limit: 1, windowMs: 0 }, 'windowMs=0: expected a positive integer, at most 2678400000 (ms: 1 ms to 31 days)'],
    [{ limit: 2 ** 53, windowMs: 1000 }, 'limit=9007199254740992: expected a positive integer'],
  ])('refuses a tier out of range in one line naming the option and the range: %j', (tier, message) => {
    expect(() => buildPolicy('p', { tiers: { t: tier } }, 'token-bucket')).toThrow(
      `nestjs-redis-shield: invalid option policies.p.tiers.t.${message}`,
    );
  });

  it('names the configured policies when an unknown one is asked for', () => {
    expect(() => new PolicyRegistry([]).get('nope')).toThrow(/unknown rate-limit policy 'nope' \(configured: none\)/);
    expect(() => buildRegistry({}).get('nope')).toThrow(/configured: default/);
  });
});
