import { IntrinsicException } from '@nestjs/common';
import { ERROR_CODES, messages, type ShieldErrorCode } from '../../core/errors.js';
import { waitSeconds } from '../engine/rate-limit-headers.js';
import type { RateLimitResult } from '../engine/rate-limit.types.js';

/** The `extensions` of a GraphQL rate-limit error, as clients receive them. */
export interface GraphqlRateLimitExtensions {
  /** Always `RATE_LIMITED`. */
  code: 'RATE_LIMITED';
  /**
   * Seconds to wait before retrying (≥ 1; the `Retry-After` of the HTTP response when the
   * transport is HTTP). Absent when the operation's cost exceeds a tier's limit: no wait helps.
   */
  retryAfter?: number;
  /** The name of the policy whose tier rejected the operation (`default`, `default@pro`, `Resolver.field`). */
  policy: string;
  /** The tier that rejected it (`minute`, `burst`, ...). */
  tier: string;
  /** Only when the cost exceeds a tier's limit: the operation's cost in that policy. */
  cost?: number;
  /** Only when the cost exceeds a tier's limit: the tier's limit per window. */
  limit?: number;
}

/**
 * A GraphQL operation or field the rate-limit guard rejected. graphql-js turns it into a
 * `GraphQLError` with these {@link GraphqlRateLimitError.extensions | extensions} (it copies
 * `extensions` from the error a resolver throws), so Apollo and Mercurius answer
 * `{"errors":[{"message":"Too many requests. Please try again later.","extensions":{"code":"RATE_LIMITED",...}}]}`
 * without the library importing `graphql`. Nest does not log it (an `IntrinsicException`):
 * a rejection is control flow, not a failure. Catch it in a `formatError` by its `code`
 * (`SHIELD_E023`, or `SHIELD_E024` when the cost exceeds a tier's limit).
 */
export class GraphqlRateLimitError extends IntrinsicException {
  /** `SHIELD_E023` (over a tier's limit) or `SHIELD_E024` (cost above a tier's limit); not shown to clients. */
  readonly code: ShieldErrorCode;
  /** What GraphQL clients receive as the error's `extensions`. */
  readonly extensions: GraphqlRateLimitExtensions;

  /**
   * Builds the error of a rejected decision.
   *
   * @param result The rejected decision (its `policy`, `tier`, `retryAfterMs`).
   * @param cost What the operation cost in the rejecting tier's policy.
   */
  constructor(result: RateLimitResult, cost: number) {
    const costTooHigh = result.costExceedsLimit === true;
    super(costTooHigh ? messages.costExceedsLimit(cost, result.limit, result) : messages.rateLimitExceeded());
    this.name = 'GraphqlRateLimitError';
    this.code = costTooHigh ? ERROR_CODES.costExceedsLimit : ERROR_CODES.rateLimitExceeded;
    this.extensions = costTooHigh
      ? { code: 'RATE_LIMITED', policy: result.policy, tier: result.tier, cost, limit: result.limit }
      : {
          code: 'RATE_LIMITED',
          retryAfter: waitSeconds(result.retryAfterMs),
          policy: result.policy,
          tier: result.tier,
        };
  }
}
