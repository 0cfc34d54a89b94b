import { buildRegistry } from '../engine/rate-limit.options.js';
import { resolveConcurrencyPolicy, resolveRoutePolicies } from './route-policies.js';

describe('resolveConcurrencyPolicy', () => {
  const registry = buildRegistry({});
  const route = { controller: 'ReportsController', handler: 'export' };

  it('names the policy after the handler, or the class when only the class is marked (its routes share it)', () => {
    expect(resolveConcurrencyPolicy(registry, route, undefined, undefined)).toBeUndefined();
    expect(resolveConcurrencyPolicy(registry, route, { limit: 5 }, { limit: 2, leaseMs: 9000 })).toEqual({
      name: 'ReportsController.export:concurrency',
      tiers: [],
      shadow: false,
      concurrency: { name: 'concurrency', limit: 2, leaseMs: 9000 },
    });
    expect(resolveConcurrencyPolicy(registry, route, { limit: 5 }, undefined)?.name).toBe(
      'ReportsController:concurrency',
    );
    expect(resolveConcurrencyPolicy(registry, route, undefined, { limit: 1, name: 'exports' })?.name).toBe('exports');
  });

  it('refuses a bad limit at start-up, naming the policy', () => {
    expect(() => resolveConcurrencyPolicy(registry, route, undefined, { limit: 0 })).toThrow(
      'policies.ReportsController.export:concurrency.tiers.concurrency.limit=0',
    );
  });

  it('an inline @RateLimit keeps the concurrency tier it inherits', () => {
    const withSlots = buildRegistry({
      defaultTiers: { minute: { limit: 60, windowMs: 60_000 }, inflight: { kind: 'concurrency', limit: 3 } },
    });
    const [inline] = resolveRoutePolicies(withSlots, route, undefined, { perMinute: 5, burst: 2 });
    expect(inline.tiers.map((tier) => [tier.name, tier.limit])).toEqual([
      ['minute', 5],
      ['burst', 2],
    ]);
    expect(inline.concurrency).toEqual({ name: 'inflight', limit: 3, leaseMs: 60_000 });
  });
});
