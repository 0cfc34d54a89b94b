import { buildPolicy, PolicyRegistry } from './policy.js';
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

  it('names the configured policies when an unknown one is asked for', () => {
    expect(() => new PolicyRegistry([]).get('nope')).toThrow(/unknown rate-limit policy 'nope' \(configured: none\)/);
    expect(() => buildRegistry({}).get('nope')).toThrow(/configured: default/);
  });
});
