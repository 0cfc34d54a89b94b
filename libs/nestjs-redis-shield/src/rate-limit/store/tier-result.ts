import type { ConcurrencyTier, RateLimitPolicy, RateLimitTier, TierResult } from '../engine/rate-limit.types.js';

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

/** Joins a policy's concurrency tier and its outcome: `kind: 'concurrency'`, no window. */
export function slotResult(policy: RateLimitPolicy, tier: ConcurrencyTier, outcome: TierOutcome): TierResult {
  return {
    policy: policy.name,
    tier: tier.name,
    kind: 'concurrency',
    limit: tier.limit,
    windowMs: 0,
    shadow: policy.shadow,
    allowed: outcome.allowed,
    remaining: outcome.remaining,
    resetMs: outcome.resetMs,
    retryAfterMs: outcome.retryAfterMs,
  };
}
