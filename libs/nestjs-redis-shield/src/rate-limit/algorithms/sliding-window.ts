import { costAboveLimit, type RateLimitAlgorithm, WINDOW_EPOCH_MS } from './algorithm.js';
import { SLIDING_WINDOW_LUA } from './sliding-window.lua.js';
import { windowHorizon, windowOffset } from './window-index.js';

/**
 * Sliding window (counter-based): the current aligned window's count plus the previous
 * window's count weighted by how much of it still overlaps the last `windowMs`:
 * `estimate = previous * (windowMs - elapsed) / windowMs + current`.
 *
 * Guarantee: at most N units per aligned window (the estimate is never below the
 * current count), so at most 2N in any sliding window of that length; with steady
 * traffic the estimate tracks a true sliding log closely. A window is never counted
 * twice: when the clock steps back behind the stored window, counting goes on in the
 * stored window as if the clock stood at its start (the previous window at full weight).
 * Bound: a step back of up to m − ⌊ttl/windowMs⌋ − 2 windows (`windowOffset`; 6 windows
 * for a one-tier policy, 878 for the default minute tier) is absorbed; a bigger one finds
 * the state stale and the tier starts afresh. Cost: O(1) time, one field
 * `index:current[:previous]` per tier (index: the window number, wrapped by the script) —
 * no per-request log.
 */
export const slidingWindow: RateLimitAlgorithm = {
  name: 'sliding-window',
  code: 2,
  lua: SLIDING_WINDOW_LUA,
  decide(state, tier, cost, nowMs, ttlMs = 2 * tier.windowMs) {
    const { limit, windowMs } = tier;
    if (cost > limit) return costAboveLimit(slidingWindow.decide(state, tier, 0, nowMs, ttlMs));
    let window = Math.floor((nowMs - WINDOW_EPOCH_MS) / windowMs);
    let current = 0;
    let previous = 0;
    const offset = state ? windowOffset(state[0], window, windowMs, ttlMs) : undefined;
    if (state && offset === -1) previous = state[1];
    else if (state && offset !== undefined) [window, current, previous] = [window + offset, state[1], state[2] ?? 0];
    const startMs = WINDOW_EPOCH_MS + window * windowMs;
    // Ahead of the clock, the bucket stands at its window's start; waits count from the clock.
    const elapsed = Math.max(0, nowMs - startMs);
    const lead = Math.max(0, startMs - nowMs);
    const estimate = (previous * (windowMs - elapsed)) / windowMs + current;
    const resetMs = startMs + windowMs - nowMs;
    const atMs = Math.max(nowMs, startMs);
    const horizonMs = windowHorizon(window, windowMs, ttlMs);
    if (estimate + cost <= limit) {
      return {
        allowed: true,
        remaining: Math.floor(limit - estimate - cost),
        resetMs,
        retryAfterMs: 0,
        // A zero previous count is left out: fresh clients are the common case.
        next: previous === 0 ? [window, current + cost] : [window, current + cost, previous],
        atMs,
        horizonMs,
      };
    }
    let retryAfterMs: number;
    if (current + cost <= limit) {
      // The previous window's weight must decay until the request fits in this window.
      retryAfterMs = Math.ceil(windowMs * (1 - (limit - current - cost) / previous) - elapsed) + lead;
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
      atMs,
      horizonMs,
    };
  },
};
