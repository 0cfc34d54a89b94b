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
  /** Units left after the cost; when rejected, before it (the same as with cost 0). */
  remaining: number;
  /** Milliseconds until the quota is fully restored (after the cost; when rejected, without it). */
  resetMs: number;
  /**
   * When rejected: milliseconds until a retry of the same cost can pass; 0 when allowed;
   * `Infinity` when the cost exceeds the tier's limit (no wait lets it pass).
   */
  retryAfterMs: number;
  /** The tier's new state (numbers only); stored only when the whole request is admitted. */
  next: number[];
  /**
   * The instant (epoch ms) the new state stands at: `nowMs`, or later when the clock reads
   * behind the bucket (it stepped back). The key must live its ttl past this instant.
   */
  atMs: number;
  /**
   * The first instant (epoch ms) at which the stored state could be misread (a window
   * number wrapped by the script, see `windowOffset`); `Infinity` for algorithms without
   * one. The key must be gone by then.
   */
  horizonMs: number;
}

/**
 * The verdict for a cost above the tier's limit, from the verdict for cost 0: never
 * admitted, whatever the wait, and the tier reports its standing as it is.
 */
export function costAboveLimit(standing: TierVerdict): TierVerdict {
  return { ...standing, allowed: false, retryAfterMs: Infinity, next: [] };
}

/**
 * An algorithm's TypeScript half, which the in-memory store runs. Every algorithm keeps a
 * bucket's time monotonic: when the clock reads behind the bucket's state (an NTP step
 * back, another instance's skew), it decides as if the clock stood at the bucket's time,
 * and reports waits from the clock as it reads.
 */
export interface TierDecider {
  /**
   * Decides `cost` units at `nowMs` from `state` (undefined: a fresh bucket). Cost 0 peeks.
   * `ttlMs` is how long the key lives past its state's time (twice the policy's longest
   * window; default twice this tier's): the window algorithms size their stored index by it.
   */
  decide(
    state: readonly number[] | undefined,
    tier: TierParams,
    cost: number,
    nowMs: number,
    ttlMs?: number,
  ): TierVerdict;
}

/**
 * One rate-limit algorithm as the registry (`registry.ts`) holds it: its TypeScript half,
 * and its Lua twin for the Redis script, with the same arithmetic. The conformance suite
 * runs both.
 *
 * The Lua twin defines `local function decide(state, limit, window, cost, now, ttl)`: the
 * tier's stored state (the `next` numbers joined with `:`, or nil for a fresh bucket), its
 * limit, its window in ms, the cost (0 peeks), the clock in ms and the key's ttl in ms; it
 * returns `ok, remaining, reset, retry, next, at, horizon` as in {@link TierVerdict}
 * (`ok` 1 or 0, `next` the state string or nil, retry -1 for "never"). The script gives each
 * algorithm a block of its own, so its helpers and its `decide` never meet another's.
 */
export interface RateLimitAlgorithm extends TierDecider {
  /** The Lua twin: a chunk defining `decide` (see above). */
  readonly lua: string;
}

/**
 * Lua twins of {@link WINDOW_EPOCH_MS} (`EPOCH`) and {@link costAboveLimit} (`never`, applied
 * to the returns of a cost-0 decision), shared by every algorithm's Lua.
 */
export const ALGORITHM_PRELUDE_LUA = `
local EPOCH = ${WINDOW_EPOCH_MS}
local function never(ok, remaining, reset, retry, nextState, at, horizon)
  return 0, remaining, reset, -1, nil, at, horizon
end
`;
