import { Injectable } from '@nestjs/common';
import type { Deadline } from '../../core/deadline.js';
import { messages, withCode } from '../../core/errors.js';
import { DEFAULT_POLICY, PolicyRegistry } from '../engine/policy.js';
import type { RateLimitPolicy, RateLimitResult } from '../engine/rate-limit.types.js';
import { RateLimitUnavailableException } from './rate-limit.exceptions.js';
import { RateLimiter } from './rate-limiter.js';

/** Options of one service call. */
export interface RateLimitCallOptions {
  /** @internal The request's Redis deadline, when called on behalf of a request (the guard's calls). */
  deadline?: Deadline;
  /**
   * `consume` only: what the call costs in some of its policies (policy name → integer
   * ≥ 0; 0 checks the policy without charging it). The other policies cost `cost`.
   *
   * @example
   * // One request against `default`, 750 tokens against `completions`.
   * await rateLimits.consume('user:42', ['default', 'completions'], 1, { policyCosts: { completions: 750 } });
   */
  policyCosts?: Readonly<Record<string, number>>;
}

/**
 * Rate limiting for code outside HTTP (queues, WebSockets, RPC) and for tests, through the
 * same limiter as the guard: a client over its limit is answered from the local block
 * cache, and while Redis is unavailable `failMode: 'open'` (the default) counts in this
 * instance's memory and `status` reads it. Results are data: a denial is
 * `{ allowed: false }`; with `failMode: 'closed'` a store failure throws its typed error
 * (`RedisUnavailableError`, `RedisCommandError`) and is never reported as a denial.
 *
 * @example
 * const result = await rateLimits.consume('user:42', 'completions', 3);
 * if (!result.allowed) throw new TooManyRequests(result.retryAfterMs);
 */
@Injectable()
export class RateLimitService {
  /** @internal Instantiated by Nest; import `RateLimitModule` and inject the service. */
  constructor(
    /** @internal The configured policies. */
    readonly policies: PolicyRegistry,
    private readonly limiter: RateLimiter,
  ) {}

  /**
   * Counts `cost` units for `client` against every tier of the named policies, in one
   * atomic step: admitted only if every tier admits; a rejection counts nothing.
   *
   * @param client a client id such as `user:42` or `ip:203.0.113.7` (hashed before it reaches a key)
   * @param policy a policy name, or several (all must admit). Default `default`.
   * @param cost units this call costs (a positive integer) in every policy not listed in
   *   `options.policyCosts`. Default 1. A cost above a tier's limit is never admitted:
   *   `retryAfterMs` is `Infinity` and `costExceedsLimit` true.
   */
  async consume(
    client: string,
    policy: string | readonly string[] = DEFAULT_POLICY,
    cost = 1,
    options: RateLimitCallOptions = {},
  ): Promise<RateLimitResult> {
    if (!Number.isSafeInteger(cost) || cost < 1) {
      throw withCode(new RangeError(messages.invalidArgument('cost', cost, 'a positive integer')), 'invalidArgument');
    }
    const { deadline, policyCosts } = options;
    for (const [name, units] of Object.entries(policyCosts ?? {})) {
      if (!Number.isSafeInteger(units) || units < 0) {
        throw withCode(
          new RangeError(messages.invalidArgument(`policyCosts.${name}`, units, 'a non-negative integer')),
          'invalidArgument',
        );
      }
    }
    const policies = this.resolve(policy);
    try {
      return (await this.limiter.consume({ clientId: client, policies, cost, policyCosts, deadline })).result;
    } catch (error) {
      // Fail mode closed: the store's own typed error, as callers outside HTTP expect it.
      if (error instanceof RateLimitUnavailableException && error.cause) throw error.cause;
      throw error;
    }
  }

  /**
   * The client's standing in the named policies (or the policies given), without counting
   * anything; this instance's fallback standing while Redis is unavailable.
   */
  async status(
    client: string,
    policy: string | readonly string[] | readonly RateLimitPolicy[] = DEFAULT_POLICY,
    options: RateLimitCallOptions = {},
  ): Promise<RateLimitResult> {
    const policies = isPolicyList(policy) ? policy : this.resolve(policy);
    return (await this.limiter.status({ clientId: client, policies, deadline: options.deadline })).result;
  }

  /**
   * Forgets the client's buckets in every policy of the application (configured ones,
   * plan variants and routes' inline policies), and has every instance drop its local
   * state of the client through the instance bus.
   */
  async reset(client: string, options: RateLimitCallOptions = {}): Promise<void> {
    await this.limiter.reset(client, this.policies.all(), { deadline: options.deadline });
  }

  /**
   * {@link reset} for a client known only by its HMAC (22 characters, as the violation
   * stream and the dashboard show it after the kind: `ip:<hmac>`). Throws
   * `HashedResetUnsupportedError` with a custom store that keys clients its own way.
   */
  async resetHashed(hash: string, options: RateLimitCallOptions = {}): Promise<void> {
    await this.limiter.resetHashed(hash, this.policies.all(), { deadline: options.deadline });
  }

  private resolve(policy: string | readonly string[]) {
    const names = typeof policy === 'string' ? [policy] : [...new Set(policy)];
    return names.map((name) => this.policies.get(name));
  }
}

function isPolicyList(value: unknown): value is readonly RateLimitPolicy[] {
  return Array.isArray(value) && value.length > 0 && typeof value[0] === 'object';
}
