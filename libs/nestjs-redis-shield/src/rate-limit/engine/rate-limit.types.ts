import type { RateLimitAlgorithmName } from './algorithms/registry.js';

/** One limit of a policy: at most `limit` units per `windowMs` milliseconds. */
export interface RateLimitTier {
  /** Unique within its policy; shown in headers (`"minute";q=60;w=60`). */
  name: string;
  /** Units (requests, or their cost) allowed per window. */
  limit: number;
  /** The window, in milliseconds. */
  windowMs: number;
  /** How the tier counts. */
  algorithm: RateLimitAlgorithmName;
}

/**
 * A policy's limit on requests in flight: at most `limit` requests of one client at once
 * (across every instance), each holding a slot until its response finishes or its
 * connection closes, or at the latest `leaseMs` after it was admitted.
 */
export interface ConcurrencyTier {
  /** Unique within its policy; the tier a concurrency rejection names. */
  name: string;
  /** Requests of one client in flight at once. */
  limit: number;
  /** How long a slot is held at most (ms): a crashed instance's slots come back after it. */
  leaseMs: number;
}

/** A named set of tiers. Buckets are per (policy, client). */
export interface RateLimitPolicy {
  /** Unique among the module's policies; `<policy>@<plan>` names a plan variant. */
  name: string;
  /** The rate tiers (none when the policy only limits concurrency); a request must pass all of them. */
  tiers: readonly RateLimitTier[];
  /** The policy's limit on requests in flight, when it has one (decided with the tiers, in the same step). */
  concurrency?: ConcurrencyTier;
  /** A shadow policy counts and reports but never rejects. */
  shadow: boolean;
}

/** The outcome of one tier for one request. All durations in milliseconds. */
export interface TierResult {
  /** The policy's name. */
  policy: string;
  /** The tier's name. */
  tier: string;
  /**
   * `concurrency` for a policy's limit on requests in flight (its `limit` is in requests,
   * its `windowMs` 0, and it is left out of the window-based headers); absent for a rate tier.
   */
  kind?: 'concurrency';
  /** Units allowed per window (requests in flight for a concurrency tier). */
  limit: number;
  /** The tier's window, in ms (0 for a concurrency tier). */
  windowMs: number;
  /** Whether the policy is a shadow policy (reported, never enforced). */
  shadow: boolean;
  /** Whether this tier alone would admit the request. */
  allowed: boolean;
  /**
   * Units left after this request when it was counted here (admitted, and this tier's
   * policy written); otherwise as the tier stands without it (a rejected request, a
   * shadow policy that rejects, a peek).
   */
  remaining: number;
  /**
   * Time until the tier's quota is fully restored (window end for window algorithms), with
   * or without this request's cost as for `remaining`.
   */
  resetMs: number;
  /**
   * When this tier rejects: time until a retry of the same cost can pass it; 0 when it
   * admits; `Infinity` when the cost exceeds the tier's limit (never with this cost).
   */
  retryAfterMs: number;
}

/**
 * The decision for one request over all its policies. `allowed` is true only when
 * every enforced (non-shadow) tier admits; a rejected request consumed nothing.
 * `limit`, `remaining`, `resetMs`, `retryAfterMs` and `tier` describe the most
 * restrictive enforced tier (see `summarize`).
 */
export interface RateLimitResult {
  /** Whether the request was admitted (and counted). */
  allowed: boolean;
  /** The summarised tier's limit (0 when no tier is enforced). */
  limit: number;
  /** Units left in the summarised tier after this request (before it, when rejected). */
  remaining: number;
  /** Milliseconds until the summarised tier's quota is fully restored. */
  resetMs: number;
  /**
   * When rejected: milliseconds until a retry of the same cost can pass; 0 when allowed.
   * `Infinity` means never with this cost: it exceeds a tier's limit (see `costExceedsLimit`).
   */
  retryAfterMs: number;
  /**
   * True when the request was rejected because its cost exceeds the limit of an enforced
   * tier: no wait lets it pass (`retryAfterMs` is `Infinity`), only a smaller cost can.
   * Set by `summarize`; absent counts as false.
   */
  costExceedsLimit?: boolean;
  /** The policy of the tier the summary describes (empty when no tier is enforced). */
  policy: string;
  /** The name of the tier the summary describes (empty when no tier is enforced). */
  tier: string;
  /** The clock reading the decision used, in ms since the epoch (Redis `TIME` by default). */
  nowMs: number;
  /** Every tier of every policy, shadow ones included. */
  tiers: TierResult[];
}
