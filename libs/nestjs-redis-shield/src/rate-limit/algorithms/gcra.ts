import type { RateLimitAlgorithm } from './algorithm.js';
import { GCRA_LUA } from './gcra.lua.js';

/** Relative tolerance for floating-point sums of the emission interval. */
const EPSILON = 1e-9;

/**
 * GCRA (generic cell rate algorithm, a leaky bucket as a meter): one "theoretical
 * arrival time" per tier. Each unit advances it by `windowMs / N`; a request is
 * admitted while the TAT stays within `windowMs` of now. Smooth spacing, bursts up to N.
 *
 * Guarantee: at most N + rate·Δt units over any interval Δt (rate = N / windowMs).
 * Cost: O(1), one field (the TAT in ms) per tier — the smallest state of the four.
 */
export const gcra: RateLimitAlgorithm = {
  name: 'gcra',
  code: 4,
  lua: GCRA_LUA,
  decide(state, { limit, windowMs }, cost, nowMs) {
    const interval = windowMs / limit;
    const slack = windowMs * EPSILON;
    const tat = state ? Math.max(state[0], nowMs) : nowMs;
    const next = tat + cost * interval;
    if (next - nowMs <= windowMs + slack) {
      return {
        allowed: true,
        remaining: Math.max(0, Math.floor((windowMs - (next - nowMs)) / interval + EPSILON)),
        resetMs: Math.ceil(next - nowMs - slack),
        retryAfterMs: 0,
        next: [next],
      };
    }
    return {
      allowed: false,
      remaining: Math.max(0, Math.floor((windowMs - (tat - nowMs)) / interval + EPSILON)),
      resetMs: Math.ceil(tat - nowMs - slack),
      retryAfterMs: Math.max(1, Math.ceil(next - windowMs - nowMs - slack)),
      next: [],
    };
  },
};
