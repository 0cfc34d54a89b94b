import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { TierDefinition } from './policy.js';

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

/**
 * Sets the cost of a route's requests (default 1, or the module's `cost` option).
 *
 * @example
 * @RateLimitCost((ctx) => 1 + Math.floor((ctx.switchToHttp().getRequest().body?.max_tokens ?? 0) / 1000))
 */
export const RateLimitCost = Reflector.createDecorator<RateLimitCostSpec>();
