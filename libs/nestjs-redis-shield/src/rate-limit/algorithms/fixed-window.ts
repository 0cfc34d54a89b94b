import { type RateLimitAlgorithm, WINDOW_EPOCH_MS } from './algorithm.js';
import { FIXED_WINDOW_LUA } from './fixed-window.lua.js';

/**
 * Fixed window: one counter per aligned window (`floor((now - WINDOW_EPOCH_MS) / windowMs)`).
 *
 * Guarantee: at most N units per aligned window, so at most 2N in any sliding window of
 * the same length (N at the end of one window, N at the start of the next).
 * Cost: O(1) time, one field `index:count` per tier (index: the window number, wrapped by the script).
 */
export const fixedWindow: RateLimitAlgorithm = {
  name: 'fixed-window',
  code: 1,
  lua: FIXED_WINDOW_LUA,
  decide(state, { limit, windowMs }, cost, nowMs) {
    const window = Math.floor((nowMs - WINDOW_EPOCH_MS) / windowMs);
    const count = state && state[0] === window ? state[1] : 0;
    const resetMs = WINDOW_EPOCH_MS + (window + 1) * windowMs - nowMs;
    if (count + cost <= limit) {
      return { allowed: true, remaining: limit - count - cost, resetMs, retryAfterMs: 0, next: [window, count + cost] };
    }
    return { allowed: false, remaining: Math.max(0, limit - count), resetMs, retryAfterMs: resetMs, next: [] };
  },
};
