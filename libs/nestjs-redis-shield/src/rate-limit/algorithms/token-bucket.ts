import type { RateLimitAlgorithm } from './algorithm.js';
import { TOKEN_BUCKET_LUA } from './token-bucket.lua.js';

/**
 * Token bucket: capacity N, refilled continuously at N per `windowMs`. Bursts up to N,
 * then a steady rate.
 *
 * Guarantee: at most N + rate·Δt units over any interval Δt (rate = N / windowMs).
 * Arithmetic is exact in integers: the level is kept in "token·ms" units (one token =
 * `windowMs` units, refill = N units per ms). Cost: O(1), one field `level:lastMs`.
 */
export const tokenBucket: RateLimitAlgorithm = {
  name: 'token-bucket',
  code: 3,
  lua: TOKEN_BUCKET_LUA,
  decide(state, { limit, windowMs }, cost, nowMs) {
    const capacity = limit * windowMs;
    let level = capacity;
    let last = nowMs;
    if (state) {
      [level, last] = state;
      // A clock behind the last update (another instance's skew) refills nothing.
      if (nowMs > last) level = Math.min(capacity, level + (nowMs - last) * limit);
      last = Math.max(last, nowMs);
    }
    const need = cost * windowMs;
    if (level >= need) {
      const after = level - need;
      return {
        allowed: true,
        remaining: Math.floor(after / windowMs),
        resetMs: Math.ceil((capacity - after) / limit),
        retryAfterMs: 0,
        next: [after, last],
      };
    }
    return {
      allowed: false,
      remaining: Math.floor(level / windowMs),
      resetMs: Math.ceil((capacity - level) / limit),
      retryAfterMs: Math.max(1, Math.ceil((need - level) / limit)),
      next: [],
    };
  },
};
