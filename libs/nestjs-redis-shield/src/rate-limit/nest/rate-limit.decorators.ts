import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { PolicyTierDefinition } from '../engine/policy.js';

/**
 * Inline limits for one route or controller. Each shorthand is a tier of that name
 * (`perMinute` → `minute`, 60 s) and replaces the same-named tier inherited from the
 * class or the default policy; `tiers` adds or replaces any tier by name.
 */
export interface InlineRateLimit {
  /** Requests per second: tier `second`, window 1000 ms. */
  perSecond?: number;
  /** Requests per minute: tier `minute`, window 60 000 ms. */
  perMinute?: number;
  /** Requests per hour: tier `hour`, window 3 600 000 ms. */
  perHour?: number;
  /** Requests per day: tier `day`, window 86 400 000 ms. */
  perDay?: number;
  /** Requests per burst window (the default policy's `burst` window, 10 s by default). */
  burst?: number;
  /**
   * Tiers by name, applied after the shorthands (a same-named shorthand is replaced); may
   * hold one concurrency tier (`{ kind: 'concurrency', limit }`).
   */
  tiers?: Record<string, PolicyTierDefinition>;
}

/** What `@RateLimit` takes: inline limits, a configured policy's name, or several names. */
export type RateLimitSpec = InlineRateLimit | string | readonly string[];

/**
 * Selects the rate-limit policy of a controller or handler (handler wins):
 * `@RateLimit({ perMinute: 30 })` inline tiers (policy `<Controller>.<handler>`),
 * `@RateLimit('strict')` a configured policy, `@RateLimit(['default', 'completions'])`
 * every listed policy (all must admit).
 */
export const RateLimit = Reflector.createDecorator<RateLimitSpec>();

/** Exempts a controller or handler from rate limiting; `@SkipRateLimit(false)` on a handler re-enables it. */
export const SkipRateLimit = Reflector.createDecorator<boolean | undefined, boolean>({
  transform: (skip) => skip ?? true,
});

/** What one request of a route costs: a number, or a function of the request context. */
export type RateLimitCostSpec = number | ((context: ExecutionContext) => number | Promise<number>);

/** Where a route's cost applies (`@RateLimitCost(spec, options)`). */
export interface RateLimitCostOptions {
  /**
   * The policies (by name; plan variants `<name>@<plan>` included) the cost is charged to;
   * the route's other policies count the request once. Default: every policy of the route.
   */
  policies?: readonly string[];
}

/** A route's cost as stored by {@link RateLimitCost}. */
export interface RateLimitCostMetadata extends RateLimitCostOptions {
  /** The cost, or how to compute it. */
  spec: RateLimitCostSpec;
}

/** The metadata key of {@link RateLimitCost}; read with `Reflector`. */
export const RateLimitCostOn = Reflector.createDecorator<RateLimitCostMetadata>();

/**
 * Sets the cost of a route's requests (default 1, or the module's `cost` option), in
 * every policy of the route, or only in `options.policies`. A cost above a tier's limit
 * can never be admitted: the request gets a 429 that says so, without `Retry-After`.
 *
 * @example
 * // A completion costs 1 + floor(max_tokens / 1000) in the completions policy, 1 in the default one.
 * @RateLimit(['default', 'completions'])
 * @RateLimitCost((ctx) => 1 + Math.floor((ctx.switchToHttp().getRequest().body?.max_tokens ?? 0) / 1000), {
 *   policies: ['completions'],
 * })
 */
export function RateLimitCost(
  spec: RateLimitCostSpec,
  options: RateLimitCostOptions = {},
): ClassDecorator & MethodDecorator {
  return RateLimitCostOn({ spec, policies: options.policies });
}

/** Options of {@link ConcurrencyLimit}. */
export interface ConcurrencyLimitOptions {
  /**
   * How long a slot is held at most (ms), an integer from 1 to 1 day. Default 60 000. The
   * slot is released when the response finishes or the connection closes; the lease only
   * frees slots an instance could not release (it died). Set it above the route's longest
   * request: a request running past its lease stops counting.
   */
  leaseMs?: number;
  /**
   * The policy the slots belong to, as 429s and metrics name it. Routes with the same name
   * share one pool of slots per client. Default `<Controller>.<handler>:concurrency` on a
   * handler, `<Controller>:concurrency` on a class (every route of the class shares it).
   */
  name?: string;
}

/** What {@link ConcurrencyLimit} stores. */
export interface ConcurrencyLimitMetadata extends ConcurrencyLimitOptions {
  /** Requests of one client in flight at once. */
  limit: number;
}

/** The metadata key of {@link ConcurrencyLimit}; read with `Reflector`. */
export const ConcurrencyLimitOn = Reflector.createDecorator<ConcurrencyLimitMetadata>();

/**
 * At most `limit` requests of one client in flight at once on this route (or on every
 * route of this class, together), across every instance: Stripe's concurrent-requests
 * limiter. The slot is taken in the same script call as the route's rate tiers (still one
 * round trip) and released when the response finishes or the connection closes. Over the
 * limit: 429 with `Retry-After: 1`, naming the policy (see `options.name`). Handler wins
 * over class. The route's rate policies still apply.
 *
 * @example
 * @Post('completions')
 * @ConcurrencyLimit(2, { leaseMs: 120_000 }) // two completions at a time per client
 * create() {}
 */
export function ConcurrencyLimit(
  limit: number,
  options: ConcurrencyLimitOptions = {},
): ClassDecorator & MethodDecorator {
  return ConcurrencyLimitOn({ ...options, limit });
}

/**
 * Marks a controller or handler as the first to go when this instance is overloaded: with
 * the module's `loadShedding` option, its requests get 503 with `Retry-After` while the event
 * loop lags past `maxEventLoopDelayMs`, before any Redis call. `@ShedUnderLoad(false)` on a
 * handler exempts it from its class's mark.
 *
 * @example
 * @Get('reports/export')
 * @ShedUnderLoad() // an expensive export can wait; checkout cannot
 * export() {}
 */
export const ShedUnderLoad = Reflector.createDecorator<boolean | undefined, boolean>({
  transform: (shed) => shed ?? true,
});
