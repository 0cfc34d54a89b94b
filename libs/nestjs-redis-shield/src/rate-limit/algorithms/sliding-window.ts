import { type RateLimitAlgorithm, WINDOW_EPOCH_MS } from './algorithm.js';
import { SLIDING_WINDOW_LUA } from './sliding-window.lua.js';

/**
 * Sliding window (counter-based): the current aligned window's count plus the previous
 * window's count weighted by how much of it still overlaps the last `windowMs`:
 * `estimate = previous * (windowMs - elapsed) / windowMs + current`.
 *
 * Guarantee: at most N units per aligned window (the estimate is never below the
 * current count), so at most 2N in any sliding window of that length; with steady
 * traffic the estimate tracks a true sliding log closely. Cost: O(1) time, one field
 * `index:current[:previous]` per tier (index: the window number, wrapped by the script) — no per-request log.
 */
export const slidingWindow: RateLimitAlgorithm = {
  name: 'sliding-window',
  code: 2,
  lua: SLIDING_WINDOW_LUA,
  decide(state, { limit, windowMs }, cost, nowMs) {
    const window = Math.floor((nowMs - WINDOW_EPOCH_MS) / windowMs);
    let current = 0;
    let previous = 0;
    if (state && state[0] === window) [, current, previous = 0] = state;
    else if (state && state[0] === window - 1) previous = state[1];
    const elapsed = nowMs - WINDOW_EPOCH_MS - window * windowMs;
    const estimate = (previous * (windowMs - elapsed)) / windowMs + current;
    const resetMs = windowMs - elapsed;
    if (estimate + cost <= limit) {
      return {
        allowed: true,
        remaining: Math.floor(limit - estimate - cost),
        resetMs,
        retryAfterMs: 0,
        // A zero previous count is left out: fresh clients are the common case.
        next: previous === 0 ? [window, current + cost] : [window, current + cost, previous],
      };
    }
    let retryAfterMs: number;
    if (current + cost <= limit) {
      // The previous window's weight must decay until the request fits in this window.
      retryAfterMs = Math.ceil(windowMs * (1 - (limit - current - cost) / previous) - elapsed);
    } else {
      // It fits only in the next window, where this window's count becomes the previous one.
      const decay = current > 0 ? windowMs * (1 - (limit - cost) / current) : 0;
      retryAfterMs = Math.ceil(resetMs + Math.max(0, decay));
    }
    return {
      allowed: false,
      remaining: Math.max(0, Math.floor(limit - estimate)),
      resetMs,
      retryAfterMs: Math.max(1, retryAfterMs),
      next: [],
    };
  },
};
