import { HttpException, HttpStatus } from '@nestjs/common';
import { ERROR_CODES, messages, type ShieldErrorCode } from '../../core/errors.js';
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
  /** Always `'SHIELD_E023'` (see the README's error codes); not in the body. */
  readonly code: ShieldErrorCode = ERROR_CODES.rateLimitExceeded;

  /**
   * Builds the 429 body.
   *
   * @param resetTime Unix seconds when the limiting tier resets (`reset_time`).
   * @param retryAfter Seconds to wait (`retry_after`), the value of `Retry-After`.
   */
  constructor(resetTime: number, retryAfter: number) {
    const body: RateLimitExceededBody = {
      error: 'Rate limit exceeded',
      message: messages.rateLimitExceeded(),
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
  /** Always `'SHIELD_E024'` (see the README's error codes); not in the body. */
  readonly code: ShieldErrorCode = ERROR_CODES.costExceedsLimit;

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
      message: messages.costExceedsLimit(cost, limit, tier),
      cost,
      limit,
    };
    super(body, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** Redis is unavailable and the module is configured to fail closed: 503. */
export class RateLimitUnavailableException extends HttpException {
  /** Always `'SHIELD_E025'` (see the README's error codes); not in the body. */
  readonly code: ShieldErrorCode = ERROR_CODES.rateLimitUnavailable;

  /**
   * Builds the 503 with the body `{ error: 'Service unavailable', message }`.
   *
   * @param options `cause`: the store's error (a `RedisUnavailableError` or `RedisCommandError`).
   */
  constructor(options?: { cause?: unknown }) {
    super(
      { error: 'Service unavailable', message: messages.rateLimitUnavailable() },
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
