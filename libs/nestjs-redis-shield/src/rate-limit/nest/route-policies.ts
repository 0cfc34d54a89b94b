import { type PolicyRegistry, type TierDefinition, DEFAULT_POLICY } from '../engine/policy.js';
import type { InlineRateLimit, RateLimitSpec } from './rate-limit.decorators.js';
import type { RateLimitPolicy } from '../engine/rate-limit.types.js';

const SHORTHANDS: readonly [keyof InlineRateLimit, string, number][] = [
  ['perSecond', 'second', 1_000],
  ['perMinute', 'minute', 60_000],
  ['perHour', 'hour', 3_600_000],
  ['perDay', 'day', 86_400_000],
];

/**
 * Resolves a route's policies from its class and handler metadata: none →
 * the default policy; a name or names → those policies; inline limits → one policy
 * `<Controller>.<handler>` whose tiers are the inherited ones (class level, else the
 * default policy) with same-named tiers replaced. Handler metadata wins over class.
 */
export function resolveRoutePolicies(
  registry: PolicyRegistry,
  route: { controller: string; handler: string },
  classSpec: RateLimitSpec | undefined,
  handlerSpec: RateLimitSpec | undefined,
): RateLimitPolicy[] {
  const name = `${route.controller}.${route.handler}`;
  const fromClass =
    classSpec === undefined ? [registry.get(DEFAULT_POLICY)] : apply(classSpec, [registry.get(DEFAULT_POLICY)]);
  return handlerSpec === undefined ? fromClass : apply(handlerSpec, fromClass);

  function apply(spec: RateLimitSpec, inherited: RateLimitPolicy[]): RateLimitPolicy[] {
    if (typeof spec === 'string') return [registry.get(spec)];
    if (Array.isArray(spec)) return [...new Set(spec as readonly string[])].map((policy) => registry.get(policy));
    return [inline(spec as InlineRateLimit, inherited)];
  }

  function inline(spec: InlineRateLimit, inherited: RateLimitPolicy[]): RateLimitPolicy {
    const tiers: Record<string, TierDefinition> = {};
    for (const policy of inherited) {
      for (const tier of policy.tiers)
        tiers[tier.name] ??= { limit: tier.limit, windowMs: tier.windowMs, algorithm: tier.algorithm };
    }
    for (const [key, tierName, windowMs] of SHORTHANDS) {
      const limit = spec[key];
      if (typeof limit === 'number') tiers[tierName] = { limit, windowMs, algorithm: tiers[tierName]?.algorithm };
    }
    if (spec.burst !== undefined) {
      const windowMs =
        tiers.burst?.windowMs ?? registry.get(DEFAULT_POLICY).tiers.find((t) => t.name === 'burst')?.windowMs ?? 10_000;
      tiers.burst = { limit: spec.burst, windowMs, algorithm: tiers.burst?.algorithm };
    }
    Object.assign(tiers, spec.tiers);
    return registry.build(name, { tiers });
  }
}
