import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { TierDefinition } from '../engine/policy.js';

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
  /** Tiers by name, applied after the shorthands (a same-named shorthand is replaced). */
  tiers?: Record<string, TierDefinition>;
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
