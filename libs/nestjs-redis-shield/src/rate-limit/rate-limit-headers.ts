import type { RateLimitResult, TierResult } from './rate-limit.types.js';

/** Which header families to send. */
export interface HeaderOptions {
  /** `X-RateLimit-Limit`, `-Remaining`, `-Reset` of the most restrictive tier. Default true. */
  legacy?: boolean;
  /** `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10) for every tier. Default true. */
  draft?: boolean;
}

/** `ceil(ms / 1000)`, at least 1: the seconds a client must wait. */
export function waitSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Unix seconds at which the summarised tier resets. On a rejection this is never
 * earlier than the retry time, so `reset_time` and `Retry-After` agree.
 */
export function resetUnixSeconds(result: RateLimitResult): number {
  const resetMs = result.allowed ? result.resetMs : Math.max(result.resetMs, result.retryAfterMs);
  return Math.ceil((result.nowMs + resetMs) / 1000);
}

/**
 * The rate-limit response headers of a decision. Shadow tiers never appear. Tiers of
 * the first policy keep their own names; tiers of further policies are prefixed with
 * `<policy>.` so names stay unique (`"minute"`, `"completions.minute"`).
 */
export function rateLimitHeaders(result: RateLimitResult, options: HeaderOptions = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  const enforced = result.tiers.filter((tier) => !tier.shadow);
  if (enforced.length === 0) return headers;
  if (options.legacy !== false) {
    headers['X-RateLimit-Limit'] = String(result.limit);
    headers['X-RateLimit-Remaining'] = String(result.remaining);
    headers['X-RateLimit-Reset'] = String(resetUnixSeconds(result));
  }
  if (options.draft !== false) {
    const firstPolicy = enforced[0].policy;
    const name = (tier: TierResult) =>
      JSON.stringify(tier.policy === firstPolicy ? tier.tier : `${tier.policy}.${tier.tier}`);
    headers['RateLimit-Policy'] = enforced
      .map((tier) => `${name(tier)};q=${tier.limit};w=${Math.ceil(tier.windowMs / 1000)}`)
      .join(', ');
    headers.RateLimit = enforced
      .map((tier) => {
        const seconds = tier.allowed ? tier.resetMs : Math.max(tier.resetMs, tier.retryAfterMs);
        return `${name(tier)};r=${tier.remaining};t=${Math.ceil(seconds / 1000)}`;
      })
      .join(', ');
  }
  return headers;
}
