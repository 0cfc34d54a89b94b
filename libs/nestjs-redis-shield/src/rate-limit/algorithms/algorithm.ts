import type { RateLimitAlgorithmName } from '../rate-limit.types.js';

/** A tier's parameters as an algorithm sees them. */
export interface TierParams {
  limit: number;
  /** Milliseconds. */
  windowMs: number;
}

/** One tier's verdict, and the state to store if the request is admitted. */
export interface TierVerdict {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
  /** The tier's new state (numbers only); stored only when the whole request is admitted. */
  next: number[];
}

/**
 * One rate-limit algorithm, implemented twice with the same arithmetic: in TypeScript
 * for the in-memory store and in Lua (a `function(state, limit, window, cost, now)`
 * named `lua.name`) for the Redis script. The conformance suite runs both.
 */
export interface RateLimitAlgorithm {
  readonly name: RateLimitAlgorithmName;
  /** Index of the algorithm in the Lua dispatcher (1-based). */
  readonly code: number;
  /** The Lua function; its state is the `next` numbers joined with `:`. */
  readonly lua: string;
  /** Decides `cost` units at `nowMs` from `state` (undefined: a fresh bucket). Cost 0 peeks. */
  decide(state: readonly number[] | undefined, tier: TierParams, cost: number, nowMs: number): TierVerdict;
}
