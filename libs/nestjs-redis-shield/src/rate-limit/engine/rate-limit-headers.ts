import type { RateLimitPolicy, RateLimitResult } from './rate-limit.types.js';

/** Which header families to send. */
export interface HeaderOptions {
  /** `X-RateLimit-Limit`, `-Remaining`, `-Reset` of the most restrictive tier. Default true. */
  legacy?: boolean;
  /** `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10) for every tier. Default true. */
  draft?: boolean;
}

/**
 * The largest wait HTTP delta-seconds carry (2^31, RFC 9110 §1.2.2): what {@link waitSeconds}
 * answers for a wait that never ends.
 */
export const MAX_WAIT_SECONDS = 2 ** 31;

/**
 * `ceil(ms / 1000)`, at least 1: the seconds a client must wait. A wait that never ends
 * (`Infinity`: the cost exceeds a limit) gives {@link MAX_WAIT_SECONDS}.
 */
export function waitSeconds(ms: number): number {
  return Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : MAX_WAIT_SECONDS;
}

/**
 * What the headers show as a tier's wait (ms): its reset, or on a rejection the retry time
 * when later. A retry that never comes (`Infinity`) shows the reset: the tier's standing is
 * still real, only this cost can never pass.
 */
function shownWaitMs(outcome: { allowed: boolean; resetMs: number; retryAfterMs: number }): number {
  if (outcome.allowed || !Number.isFinite(outcome.retryAfterMs)) return outcome.resetMs;
  return Math.max(outcome.resetMs, outcome.retryAfterMs);
}

/**
 * Unix seconds at which the summarised tier resets. On a rejection this is never
 * earlier than the retry time, so `reset_time` and `Retry-After` agree (unless no retry
 * can pass: then the tier's reset).
 */
export function resetUnixSeconds(result: RateLimitResult): number {
  return Math.ceil((result.nowMs + shownWaitMs(result)) / 1000);
}

/**
 * What the draft headers of a set of policies share on every request: the
 * `RateLimit-Policy` value and each enforced tier's quoted name. Built once per policy
 * set (see {@link headerTemplate}), so a request only formats its numbers.
 */
export interface HeaderTemplate {
  /** The `RateLimit-Policy` header value, e.g. `"minute";q=60;w=60, "hour";q=1000;w=3600`. */
  policy: string;
  /** Quoted names of the enforced tiers, in decision order. */
  names: string[];
}

/**
 * The {@link HeaderTemplate} of the tiers of `policies` (the order the store decides them
 * in). Concurrency tiers are not among them: `RateLimit-Policy` and `RateLimit` describe
 * quotas per window, and requests in flight have no window.
 */
export function headerTemplate(policies: readonly RateLimitPolicy[]): HeaderTemplate {
  return templateOf(
    policies
      .filter((policy) => !policy.shadow)
      .flatMap((policy) => policy.tiers.map((tier) => ({ policy: policy.name, tier: tier.name, ...tier }))),
  );
}

/** The template of enforced tiers, in order: the first policy's tiers keep their names. */
function templateOf(
  tiers: readonly { policy: string; tier: string; limit: number; windowMs: number }[],
): HeaderTemplate {
  const firstPolicy = tiers[0]?.policy;
  const names = tiers.map((tier) =>
    JSON.stringify(tier.policy === firstPolicy ? tier.tier : `${tier.policy}.${tier.tier}`),
  );
  return {
    names,
    policy: tiers.map((tier, i) => `${names[i]};q=${tier.limit};w=${Math.ceil(tier.windowMs / 1000)}`).join(', '),
  };
}

/**
 * The rate-limit response headers of a decision. Shadow tiers never appear. Tiers of
 * the first policy keep their own names; tiers of further policies are prefixed with
 * `<policy>.` so names stay unique (`"minute"`, `"completions.minute"`). Pass the
 * policies' {@link headerTemplate} to skip rebuilding what never changes.
 */
export function rateLimitHeaders(
  result: RateLimitResult,
  options: HeaderOptions = {},
  template?: HeaderTemplate,
): Record<string, string> {
  const headers: Record<string, string> = {};
  // Concurrency tiers have no window: the draft fields leave them out (a concurrency
  // rejection still shows in the X-RateLimit-* summary, Retry-After and the body).
  const enforced = result.tiers.filter((tier) => !tier.shadow && tier.kind !== 'concurrency');
  if (enforced.length === 0 && !result.tiers.some((tier) => !tier.shadow)) return headers;
  if (options.legacy !== false) {
    headers['X-RateLimit-Limit'] = String(result.limit);
    headers['X-RateLimit-Remaining'] = String(result.remaining);
    headers['X-RateLimit-Reset'] = String(resetUnixSeconds(result));
  }
  if (options.draft !== false && enforced.length > 0) {
    const { names, policy } = template && template.names.length === enforced.length ? template : templateOf(enforced);
    headers['RateLimit-Policy'] = policy;
    let value = '';
    for (let i = 0; i < enforced.length; i++) {
      const tier = enforced[i];
      value += `${i === 0 ? '' : ', '}${names[i]};r=${tier.remaining};t=${Math.ceil(shownWaitMs(tier) / 1000)}`;
    }
    headers.RateLimit = value;
  }
  return headers;
}
