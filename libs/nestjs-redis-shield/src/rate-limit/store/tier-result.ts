import type { RateLimitPolicy, RateLimitTier, TierResult } from '../engine/rate-limit.types.js';

/** A tier's outcome as a store computed it (ms durations). */
export interface TierOutcome {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/** Joins a tier's configuration and its outcome into the result both stores return. */
export function tierResult(policy: RateLimitPolicy, tier: RateLimitTier, outcome: TierOutcome): TierResult {
  return {
    policy: policy.name,
    tier: tier.name,
    limit: tier.limit,
    windowMs: tier.windowMs,
    shadow: policy.shadow,
    allowed: outcome.allowed,
    remaining: outcome.remaining,
    resetMs: outcome.resetMs,
    retryAfterMs: outcome.retryAfterMs,
  };
}
