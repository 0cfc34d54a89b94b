import type { RateLimitAlgorithmName } from '../rate-limit.types.js';

/**
 * Window indexes count from 2025-01-01T00:00:00Z (a multiple of a day, so minute, hour
 * and day windows stay aligned to the clock) to keep stored numbers short.
 */
export const WINDOW_EPOCH_MS = 1_735_689_600_000;

/** A tier's parameters as an algorithm sees them. */
export interface TierParams {
  /** Units allowed per window. */
  limit: number;
  /** Milliseconds. */
  windowMs: number;
}

/** One tier's verdict, and the state to store if the request is admitted. */
export interface TierVerdict {
  /** Whether this tier admits the cost. */
  allowed: boolean;
  /** Units left after the cost (before it, when rejected). */
  remaining: number;
  /** Milliseconds until the quota is fully restored. */
  resetMs: number;
  /** When rejected: milliseconds until a retry of the same cost can pass; 0 when allowed. */
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
  /** The name used in options (`algorithm: 'gcra'`). */
  readonly name: RateLimitAlgorithmName;
  /** Index of the algorithm in the Lua dispatcher (1-based). */
  readonly code: number;
  /** The Lua function; its state is the `next` numbers joined with `:`. */
  readonly lua: string;
  /** Decides `cost` units at `nowMs` from `state` (undefined: a fresh bucket). Cost 0 peeks. */
  decide(state: readonly number[] | undefined, tier: TierParams, cost: number, nowMs: number): TierVerdict;
}
