import { DEFAULT_POLICY, type PolicyDefinition, PolicyRegistry, type TierDefinition, buildPolicy } from './policy.js';
import type { RateLimitAlgorithmName } from './rate-limit.types.js';

/** Options of `RateLimitModule.forRoot`. */
export interface RateLimitModuleOptions {
  /** Algorithm of every tier that names none. Default `sliding-window`. */
  algorithm?: RateLimitAlgorithmName;
  /**
   * Tiers of the `default` policy. Default: `minute` 60 per 60 s, `hour` 1000 per
   * 3600 s, `burst` 10 per 10 s.
   */
  defaultTiers?: Record<string, TierDefinition>;
  /** Named policies, selected with `@RateLimit('name')` or by the service. */
  policies?: Record<string, PolicyDefinition>;
}

export const DEFAULT_TIERS: Readonly<Record<string, TierDefinition>> = {
  minute: { limit: 60, windowMs: 60_000 },
  hour: { limit: 1000, windowMs: 3_600_000 },
  burst: { limit: 10, windowMs: 10_000 },
};

/** Validates the options at start-up and builds every policy (throws naming the bad option). */
export function buildRegistry(options: RateLimitModuleOptions): PolicyRegistry {
  const algorithm = options.algorithm ?? 'sliding-window';
  const definitions: Record<string, PolicyDefinition> = {
    [DEFAULT_POLICY]: { tiers: { ...(options.defaultTiers ?? DEFAULT_TIERS) } },
    ...options.policies,
  };
  return new PolicyRegistry(Object.entries(definitions).map(([name, def]) => buildPolicy(name, def, algorithm)));
}
