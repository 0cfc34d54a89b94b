/** The four algorithms; see each file in `algorithms/` for its guarantee and cost. */
export const RATE_LIMIT_ALGORITHMS = ['fixed-window', 'sliding-window', 'token-bucket', 'gcra'] as const;
export type RateLimitAlgorithmName = (typeof RATE_LIMIT_ALGORITHMS)[number];

/** One limit of a policy: at most `limit` units per `windowMs` milliseconds. */
export interface RateLimitTier {
  /** Unique within its policy; shown in headers (`"minute";q=60;w=60`). */
  name: string;
  /** Units (requests, or their cost) allowed per window. */
  limit: number;
  /** The window, in milliseconds. */
  windowMs: number;
  algorithm: RateLimitAlgorithmName;
}

/** A named set of tiers. Buckets are per (policy, client). */
export interface RateLimitPolicy {
  name: string;
  tiers: readonly RateLimitTier[];
  /** A shadow policy counts and reports but never rejects. */
  shadow: boolean;
}

/** The outcome of one tier for one request. All durations in milliseconds. */
export interface TierResult {
  policy: string;
  tier: string;
  limit: number;
  windowMs: number;
  shadow: boolean;
  /** Whether this tier alone would admit the request. */
  allowed: boolean;
  /** Units left after this request (before it, when rejected). */
  remaining: number;
  /** Time until the tier's quota is fully restored (window end for window algorithms). */
  resetMs: number;
  /** When rejected: time until a retry of the same cost can pass this tier; 0 when allowed. */
  retryAfterMs: number;
}

/**
 * The decision for one request over all its policies. `allowed` is true only when
 * every enforced (non-shadow) tier admits; a rejected request consumed nothing.
 * `limit`, `remaining`, `resetMs`, `retryAfterMs` and `tier` describe the most
 * restrictive enforced tier (see `summarize`).
 */
export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
  /** `policy` and `tier` name of the tier the summary describes. */
  policy: string;
  tier: string;
  /** The clock reading the decision used, in ms since the epoch (Redis `TIME` by default). */
  nowMs: number;
  /** Every tier of every policy, shadow ones included. */
  tiers: TierResult[];
}
