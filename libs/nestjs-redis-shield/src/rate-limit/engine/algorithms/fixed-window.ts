import { costAboveLimit, type TierDecider, WINDOW_EPOCH_MS } from './algorithm.js';
import { windowHorizon, windowOffset } from './window-index.js';

/**
 * Fixed window: one counter per aligned window (`floor((now - WINDOW_EPOCH_MS) / windowMs)`).
 *
 * Guarantee: at most N units per aligned window, so at most 2N in any sliding window of
 * the same length (N at the end of one window, N at the start of the next). A window is
 * never counted twice: when the clock steps back behind the stored window, counting goes
 * on in the stored window as if the clock stood at its start. Bound: a step back of up to
 * m − ⌊ttl/windowMs⌋ − 2 windows (`windowOffset`; 6 windows for a one-tier policy, 878 for
 * the default minute tier) is absorbed; a bigger one finds the state stale and the tier
 * starts afresh. Cost: O(1) time, one field `index:count` per tier (index: the window
 * number, wrapped by the script).
 */
export const fixedWindow: TierDecider = {
  decide(state, tier, cost, nowMs, ttlMs = 2 * tier.windowMs) {
    const { limit, windowMs } = tier;
    if (cost > limit) return costAboveLimit(fixedWindow.decide(state, tier, 0, nowMs, ttlMs));
    let window = Math.floor((nowMs - WINDOW_EPOCH_MS) / windowMs);
    let count = 0;
    const offset = state ? windowOffset(state[0], window, windowMs, ttlMs) : undefined;
    if (state && offset !== undefined && offset >= 0) [window, count] = [window + offset, state[1]];
    const startMs = WINDOW_EPOCH_MS + window * windowMs;
    const resetMs = startMs + windowMs - nowMs;
    const atMs = Math.max(nowMs, startMs);
    const horizonMs = windowHorizon(window, windowMs, ttlMs);
    if (count + cost <= limit) {
      const next = [window, count + cost];
      return { allowed: true, remaining: limit - count - cost, resetMs, retryAfterMs: 0, next, atMs, horizonMs };
    }
    const remaining = Math.max(0, limit - count);
    return { allowed: false, remaining, resetMs, retryAfterMs: resetMs, next: [], atMs, horizonMs };
  },
};
