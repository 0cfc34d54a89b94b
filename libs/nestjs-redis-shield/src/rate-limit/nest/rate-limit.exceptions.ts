import { HttpException, HttpStatus } from '@nestjs/common';
import { ERROR_CODES, messages, type ShieldErrorCode } from '../../core/errors.js';
import { prefersMediaType } from '../../core/http/accept.js';
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

/** This instance is overloaded and the route sheds first (`@ShedUnderLoad`): 503 with `Retry-After`. */
export class LoadSheddingException extends HttpException {
  /** Always `'SHIELD_E029'` (see the README's error codes); not in the body. */
  readonly code: ShieldErrorCode = ERROR_CODES.serverOverloaded;

  /** Builds the 503 with the body `{ error: 'Service unavailable', message }`. */
  constructor() {
    super({ error: 'Service unavailable', message: messages.serverOverloaded() }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}

/**
 * The 503 of a shed request: `Retry-After` set through `setHeader`, then the documented body,
 * or temporary-reduced-capacity problem details when the client prefers them. Built without
 * a stack trace: shedding is control flow, and it happens when CPU is scarcest.
 */
export function sheddingRejection(
  retryAfterSeconds: number,
  setHeader: (name: string, value: string) => void,
  options: { problem?: boolean } = {},
): HttpException {
  setHeader('Retry-After', String(retryAfterSeconds));
  if (!options.problem) return withoutStack(() => new LoadSheddingException());
  setHeader('Content-Type', PROBLEM_JSON);
  const body: ReducedCapacityProblem = {
    type: PROBLEM_TYPES.temporaryReducedCapacity,
    title: 'Request cannot be satisfied due to temporarily reduced capacity',
    status: 503,
    detail: messages.serverOverloaded(),
  };
  return withoutStack(() => new HttpException(body, HttpStatus.SERVICE_UNAVAILABLE));
}

/** The IANA problem types (RFC 9457) a rejection is answered with when the client prefers `application/problem+json`. */
export const PROBLEM_TYPES = {
  /** 429: a quota was exceeded (draft-ietf-httpapi-ratelimit-headers). */
  quotaExceeded: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
  /** 503: the limiter cannot decide now (closed mode while Redis is unavailable). */
  temporaryReducedCapacity: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
} as const;

/** The media type of problem details (RFC 9457). */
export const PROBLEM_JSON = 'application/problem+json';

/** Whether a request's `Accept` prefers problem details (RFC 9457) to the documented JSON bodies. */
export function prefersProblem(accept: string | undefined): boolean {
  return prefersMediaType(accept, PROBLEM_JSON, 'application/json');
}

/** A 429 as problem details: the quota-exceeded type and the policies whose quota ran out. */
export interface QuotaExceededProblem {
  type: (typeof PROBLEM_TYPES)['quotaExceeded'];
  title: string;
  status: 429;
  /** What was exceeded (and, for a cost above a limit, that waiting does not help). */
  detail: string;
  /** The names of the policies whose quota was exceeded. */
  'violated-policies': string[];
}

/** A closed-mode 503 as problem details: the temporary-reduced-capacity type. */
export interface ReducedCapacityProblem {
  type: (typeof PROBLEM_TYPES)['temporaryReducedCapacity'];
  title: string;
  status: 503;
  detail: string;
}

/** Builds an exception without capturing a stack trace (a rejection is control flow, not a bug). */
export function withoutStack<T>(build: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
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
  options: { problem?: boolean } = {},
): HttpException {
  if (result.costExceedsLimit) {
    return options.problem
      ? quotaProblem(result.policy, messages.costExceedsLimit(cost, result.limit, result), setHeader)
      : new CostExceedsLimitException(result, cost, result.limit);
  }
  const retryAfter = waitSeconds(result.retryAfterMs);
  setHeader('Retry-After', String(retryAfter));
  if (options.problem) {
    return quotaProblem(result.policy, `retry after ${retryAfter} s (tier ${result.tier})`, setHeader);
  }
  return withoutStack(() => new RateLimitExceededException(resetUnixSeconds(result), retryAfter));
}

/** A 429 as `application/problem+json` (the caller sets the headers through `setHeader`). */
function quotaProblem(policy: string, detail: string, setHeader: (name: string, value: string) => void): HttpException {
  setHeader('Content-Type', PROBLEM_JSON);
  const body: QuotaExceededProblem = {
    type: PROBLEM_TYPES.quotaExceeded,
    title: 'Request cannot be satisfied as assigned quota has been exceeded',
    status: 429,
    detail,
    'violated-policies': [policy],
  };
  return withoutStack(() => new HttpException(body, HttpStatus.TOO_MANY_REQUESTS));
}

/**
 * The closed-mode 503 as `application/problem+json` (temporary-reduced-capacity), for a
 * client that prefers problem details; `unavailable` is kept as its cause.
 */
export function reducedCapacityProblem(
  unavailable: RateLimitUnavailableException,
  setHeader: (name: string, value: string) => void,
): HttpException {
  setHeader('Content-Type', PROBLEM_JSON);
  const body: ReducedCapacityProblem = {
    type: PROBLEM_TYPES.temporaryReducedCapacity,
    title: 'Request cannot be satisfied due to temporarily reduced capacity',
    status: 503,
    detail: messages.rateLimitUnavailable(),
  };
  return new HttpException(body, HttpStatus.SERVICE_UNAVAILABLE, { cause: unavailable });
}
