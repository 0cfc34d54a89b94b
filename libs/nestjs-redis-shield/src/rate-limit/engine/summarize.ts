import type { RateLimitResult, TierResult } from './rate-limit.types.js';
import type { RateLimitStoreDecision } from '../store/store.interface.js';

/**
 * Picks the tier a one-tier view (`X-RateLimit-*`, the service's summary) describes,
 * among enforced (non-shadow) tiers: when admitted, the smallest remaining, ties broken
 * by the latest reset, among the rate tiers (concurrency tiers only when there is no rate
 * tier: requests in flight are not a quota per window); when rejected, the rejecting tier
 * with the longest wait (a cost above a tier's limit, `Infinity`, first).
 */
export function mostRestrictive(tiers: readonly TierResult[], allowed: boolean): TierResult | undefined {
  const best = pick(tiers, allowed, false);
  return best || !allowed ? best : pick(tiers, allowed, true);
}

/** {@link mostRestrictive} among the enforced tiers, concurrency ones included only with `withSlots` (or when rejected). */
function pick(tiers: readonly TierResult[], allowed: boolean, withSlots: boolean): TierResult | undefined {
  let best: TierResult | undefined;
  for (const tier of tiers) {
    if (tier.shadow) continue;
    if (allowed && (tier.kind === 'concurrency') !== withSlots) continue;
    if (!allowed) {
      if (!tier.allowed && (!best || tier.retryAfterMs > best.retryAfterMs)) best = tier;
      continue;
    }
    if (
      !best ||
      tier.remaining < best.remaining ||
      (tier.remaining === best.remaining && tier.resetMs > best.resetMs)
    ) {
      best = tier;
    }
  }
  return best;
}

/**
 * Turns a store decision into a {@link RateLimitResult}. With no enforced tier (only
 * shadow policies) the summary fields are zero and `tier` is empty.
 */
export function summarize(decision: RateLimitStoreDecision): RateLimitResult {
  const tier = mostRestrictive(decision.tiers, decision.allowed);
  return {
    allowed: decision.allowed,
    limit: tier?.limit ?? 0,
    remaining: tier?.remaining ?? 0,
    resetMs: tier?.resetMs ?? 0,
    retryAfterMs: decision.allowed ? 0 : (tier?.retryAfterMs ?? 0),
    costExceedsLimit: !decision.allowed && tier?.retryAfterMs === Infinity,
    policy: tier?.policy ?? '',
    tier: tier?.tier ?? '',
    nowMs: decision.nowMs,
    tiers: decision.tiers,
  };
}
