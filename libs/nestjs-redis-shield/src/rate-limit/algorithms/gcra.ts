import { costAboveLimit, type RateLimitAlgorithm } from './algorithm.js';
import { GCRA_LUA } from './gcra.lua.js';

/** Relative tolerance for floating-point sums of the emission interval. */
const EPSILON = 1e-9;

/**
 * GCRA (generic cell rate algorithm, a leaky bucket as a meter): one "theoretical
 * arrival time" per tier. Each unit advances it by `windowMs / N`; a request is
 * admitted while the TAT stays within `windowMs` of now. Smooth spacing, bursts up to N.
 *
 * Guarantee: at most N + rate·Δt units over any interval Δt (rate = N / windowMs) of the
 * bucket's time: the TAT never moves back, and a clock that reads behind it (a step back,
 * another instance's skew) only finds the bucket fuller, so nothing is admitted until the
 * clock catches up. Bound: none; the TAT is never more than `windowMs` past the clock
 * that wrote it, well within the key's ttl.
 * Cost: O(1), one field (the TAT in ms) per tier — the smallest state of the four.
 */
export const gcra: RateLimitAlgorithm = {
  name: 'gcra',
  code: 4,
  lua: GCRA_LUA,
  decide(state, tier, cost, nowMs) {
    const { limit, windowMs } = tier;
    if (cost > limit) return costAboveLimit(gcra.decide(state, tier, 0, nowMs));
    const interval = windowMs / limit;
    const slack = windowMs * EPSILON;
    const tat = state ? Math.max(state[0], nowMs) : nowMs;
    const next = tat + cost * interval;
    if (next - nowMs <= windowMs + slack) {
      return {
        allowed: true,
        remaining: Math.max(0, Math.floor((windowMs - (next - nowMs)) / interval + EPSILON)),
        // At least +0: a full bucket peeked (cost 0) must not report -0.
        resetMs: Math.max(0, Math.ceil(next - nowMs - slack)),
        retryAfterMs: 0,
        next: [next],
        atMs: nowMs,
        horizonMs: Infinity,
      };
    }
    return {
      allowed: false,
      remaining: Math.max(0, Math.floor((windowMs - (tat - nowMs)) / interval + EPSILON)),
      resetMs: Math.ceil(tat - nowMs - slack),
      retryAfterMs: Math.max(1, Math.ceil(next - windowMs - nowMs - slack)),
      next: [],
      atMs: nowMs,
      horizonMs: Infinity,
    };
  },
};
