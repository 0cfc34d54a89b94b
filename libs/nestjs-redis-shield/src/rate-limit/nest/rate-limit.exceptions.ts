import { HttpException, HttpStatus } from '@nestjs/common';
import { resetUnixSeconds, waitSeconds } from '../engine/rate-limit-headers.js';
import type { RateLimitResult } from '../engine/rate-limit.types.js';

/** The 429 body, byte for byte as documented. */
export interface RateLimitExceededBody {
  /** Always `Rate limit exceeded`. */
  error: 'Rate limit exceeded';
  /** Always `Too many requests. Please try again later.` */
  message: 'Too many requests. Please try again later.';
  /** Unix seconds when the limiting tier resets. */
  reset_time: number;
  /** Seconds to wait, equal to the `Retry-After` header. */
  retry_after: number;
}

/** A rejected request: 429 with the documented body (headers are set by the guard). */
export class RateLimitExceededException extends HttpException {
  /**
   * Builds the 429 body.
   *
   * @param resetTime Unix seconds when the limiting tier resets (`reset_time`).
   * @param retryAfter Seconds to wait (`retry_after`), the value of `Retry-After`.
   */
  constructor(resetTime: number, retryAfter: number) {
    const body: RateLimitExceededBody = {
      error: 'Rate limit exceeded',
      message: 'Too many requests. Please try again later.',
      reset_time: resetTime,
      retry_after: retryAfter,
    };
    super(body, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** The 429 body of a request whose cost exceeds a tier's limit: no wait would let it pass. */
export interface CostExceedsLimitBody {
  /** Always `Rate limit exceeded`. */
  error: 'Rate limit exceeded';
  /** Says which tier's limit the cost exceeds, and that waiting does not help. */
  message: string;
  /** The units this request costs in that tier's policy. */
  cost: number;
  /** The tier's limit per window. */
  limit: number;
}

/**
 * A request that can never be admitted: its cost exceeds a tier's limit. A 429 without
 * `Retry-After` (waiting does not help), whose body says so.
 */
export class CostExceedsLimitException extends HttpException {
  /**
   * Builds the 429 body naming the tier, the cost and the limit.
   *
   * @param tier The policy and tier whose limit the cost exceeds.
   * @param cost The request's cost in that policy.
   * @param limit The tier's limit per window.
   */
  constructor(tier: { policy: string; tier: string }, cost: number, limit: number) {
    const body: CostExceedsLimitBody = {
      error: 'Rate limit exceeded',
      message:
        `This request costs ${cost} units, more than the ${limit} per window of tier "${tier.tier}" ` +
        `of policy "${tier.policy}": it can never be admitted.`,
      cost,
      limit,
    };
    super(body, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** Redis is unavailable and the module is configured to fail closed: 503. */
export class RateLimitUnavailableException extends HttpException {
  /**
   * Builds the 503 with the body `{ error: 'Service unavailable', message }`.
   *
   * @param options `cause`: the store's error (a `RedisUnavailableError` or `RedisCommandError`).
   */
  constructor(options?: { cause?: unknown }) {
    super(
      { error: 'Service unavailable', message: 'Rate limiting is temporarily unavailable. Please try again later.' },
      HttpStatus.SERVICE_UNAVAILABLE,
      options,
    );
  }
}

/**
 * The exception for a rejected result, as the guard and the system API throw it: for a
 * cost above a tier's limit a {@link CostExceedsLimitException} (no `Retry-After`: waiting
 * does not help); otherwise `Retry-After` is set through `setHeader` and the 429 is built
 * without capturing a stack trace: a rejection is control flow, never a bug, and the trace
 * cost 6 % of a flood's CPU (bench/profile.mjs shield-flood).
 *
 * @param result The rejected decision.
 * @param cost What the request cost in the rejecting tier's policy.
 * @param setHeader Sets a response header.
 */
export function rejectionOf(
  result: RateLimitResult,
  cost: number,
  setHeader: (name: string, value: string) => void,
): HttpException {
  if (result.costExceedsLimit) return new CostExceedsLimitException(result, cost, result.limit);
  const retryAfter = waitSeconds(result.retryAfterMs);
  setHeader('Retry-After', String(retryAfter));
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new RateLimitExceededException(resetUnixSeconds(result), retryAfter);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
