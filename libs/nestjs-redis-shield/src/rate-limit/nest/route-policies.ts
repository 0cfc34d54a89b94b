import { type PolicyRegistry, type PolicyTierDefinition, DEFAULT_POLICY } from '../engine/policy.js';
import type { ConcurrencyLimitMetadata, InlineRateLimit, RateLimitSpec } from './rate-limit.decorators.js';
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
    const tiers: Record<string, PolicyTierDefinition> = {};
    for (const policy of inherited) {
      for (const tier of policy.tiers)
        tiers[tier.name] ??= { limit: tier.limit, windowMs: tier.windowMs, algorithm: tier.algorithm };
      const slots = policy.concurrency;
      if (slots) tiers[slots.name] ??= { kind: 'concurrency', limit: slots.limit, leaseMs: slots.leaseMs };
    }
    const rate = (name: string) => {
      const tier = tiers[name];
      return tier?.kind === 'concurrency' ? undefined : tier;
    };
    for (const [key, tierName, windowMs] of SHORTHANDS) {
      const limit = spec[key];
      if (typeof limit === 'number') tiers[tierName] = { limit, windowMs, algorithm: rate(tierName)?.algorithm };
    }
    if (spec.burst !== undefined) {
      const windowMs =
        rate('burst')?.windowMs ??
        registry.get(DEFAULT_POLICY).tiers.find((t) => t.name === 'burst')?.windowMs ??
        10_000;
      tiers.burst = { limit: spec.burst, windowMs, algorithm: rate('burst')?.algorithm };
    }
    Object.assign(tiers, spec.tiers);
    return registry.build(name, { tiers });
  }
}

/**
 * The policy of a route's `@ConcurrencyLimit` (handler over class), or undefined: one
 * concurrency tier named `concurrency`, in a policy named by the decorator's `name`, else
 * `<Controller>.<handler>:concurrency` (handler) or `<Controller>:concurrency` (class, so
 * the class's routes share the slots).
 */
export function resolveConcurrencyPolicy(
  registry: PolicyRegistry,
  route: { controller: string; handler: string },
  classLimit: ConcurrencyLimitMetadata | undefined,
  handlerLimit: ConcurrencyLimitMetadata | undefined,
): RateLimitPolicy | undefined {
  const spec = handlerLimit ?? classLimit;
  if (!spec) return undefined;
  const owner = handlerLimit ? `${route.controller}.${route.handler}` : route.controller;
  return registry.build(spec.name ?? `${owner}:concurrency`, {
    tiers: { concurrency: { kind: 'concurrency', limit: spec.limit, leaseMs: spec.leaseMs } },
  });
}
