import { costAboveLimit, type TierDecider, WINDOW_EPOCH_MS } from './algorithm.js';
import { WEIGHT_ONE } from './exact-arithmetic.js';
import { windowHorizon, windowOffset } from './window-index.js';

/**
 * Sliding window (counter-based): the current aligned window's count plus the previous
 * window's count weighted by how much of it still overlaps the last `windowMs`:
 * `estimate = previous × weight + current`, where
 * `weight = ⌊(windowMs − elapsed) × 2^21 / windowMs⌋ / 2^21` (the overlap, rounded down to
 * a multiple of 2^-21: a step of 1.3 s in a 31-day window, 1.7 ms in an hour, under 1 µs in
 * a second).
 *
 * Guarantee: at most N units per aligned window (the estimate is never below the
 * current count), so at most 2N in any sliding window of that length; with steady
 * traffic the estimate tracks a true sliding log closely. A window is never counted
 * twice: when the clock steps back behind the stored window, counting goes on in the
 * stored window as if the clock stood at its start (the previous window at full weight).
 * Bound: a step back of up to m − ⌊ttl/windowMs⌋ − 2 windows (`windowOffset`; 6 windows
 * for a one-tier policy, 878 for the default minute tier) is absorbed; a bigger one finds
 * the state stale and the tier starts afresh.
 * Exact: the estimate is compared in units of 2^-21 (`previous × w + (current + cost) × 2^21
 * ≤ limit × 2^21`, integers below 2^53 for every supported limit and window), and
 * `remaining` and `retryAfterMs` follow from the same quantised weights — `retryAfterMs` is
 * the first millisecond at which the same cost passes. Cost: O(1) time, one field
 * `index:current[:previous]` per tier (index: the window number, wrapped by the script) —
 * no per-request log.
 */
export const slidingWindow: TierDecider = {
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
    const weight = Math.floor(((windowMs - elapsed) * WEIGHT_ONE) / windowMs);
    const weighted = previous * weight;
    // (limit − estimate − cost) × 2^21: an exact integer.
    const room = (limit - current - cost) * WEIGHT_ONE - weighted;
    const resetMs = startMs + windowMs - nowMs;
    const atMs = Math.max(nowMs, startMs);
    const horizonMs = windowHorizon(window, windowMs, ttlMs);
    if (room >= 0) {
      return {
        allowed: true,
        remaining: Math.floor(room / WEIGHT_ONE),
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
      retryAfterMs = firstElapsedWithin(limit - current - cost, previous, windowMs) - elapsed + lead;
    } else {
      // It fits only in the next window, where this window's count becomes the previous one.
      retryAfterMs = resetMs + firstElapsedWithin(limit - cost, current, windowMs);
    }
    return {
      allowed: false,
      remaining: Math.max(0, Math.floor(((limit - current) * WEIGHT_ONE - weighted) / WEIGHT_ONE)),
      resetMs,
      retryAfterMs,
      next: [],
      atMs,
      horizonMs,
    };
  },
};

/**
 * The first elapsed millisecond of a window at which `count` units of the previous window
 * weigh at most `room` units (`count × weight ≤ room × 2^21`); `windowMs` when none does
 * (the next window, where `count` no longer weighs). Needs 0 ≤ room < count, which a
 * rejection implies (count × weight > room × 2^21 with weight ≤ 2^21).
 *
 * The weight ⌊(windowMs − e) × 2^21 / windowMs⌋ is at most B = ⌊room × 2^21 / count⌋ exactly
 * when (windowMs − e) × 2^21 < (B + 1) × windowMs, that is from
 * e = windowMs − ⌈(B + 1) × windowMs / 2^21⌉ + 1 on (B < 2^21, so (B + 1) × windowMs < 2^53,
 * and the division by 2^21 is exact).
 */
function firstElapsedWithin(room: number, count: number, windowMs: number): number {
  const most = Math.floor((room * WEIGHT_ONE) / count);
  return windowMs - Math.ceil(((most + 1) * windowMs) / WEIGHT_ONE) + 1;
}
