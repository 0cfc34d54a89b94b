import { costAboveLimit, type RateLimitAlgorithm } from './algorithm.js';
import { TOKEN_BUCKET_LUA } from './token-bucket.lua.js';

/**
 * Token bucket: capacity N, refilled continuously at N per `windowMs`. Bursts up to N,
 * then a steady rate.
 *
 * Guarantee: at most N + rate·Δt units over any interval Δt (rate = N / windowMs) of the
 * bucket's time: a clock that reads behind the bucket's last update (a step back, another
 * instance's skew) refills nothing until it catches up, and waits count from the clock as
 * it reads. Bound: none: a step back of D ms refills nothing for D ms, and the key lives
 * its ttl (twice the policy's longest window) past the bucket's last update, not past the
 * stepped-back clock (unless a window tier of the same policy needs it gone sooner).
 * Arithmetic is exact in integers: the level is kept in "token·ms" units (one token =
 * `windowMs` units, refill = N units per ms). Cost: O(1), one field `level:lastMs`.
 */
export const tokenBucket: RateLimitAlgorithm = {
  name: 'token-bucket',
  code: 3,
  lua: TOKEN_BUCKET_LUA,
  decide(state, tier, cost, nowMs) {
    const { limit, windowMs } = tier;
    if (cost > limit) return costAboveLimit(tokenBucket.decide(state, tier, 0, nowMs));
    const capacity = limit * windowMs;
    let level = capacity;
    let last = nowMs;
    if (state) {
      [level, last] = state;
      if (nowMs > last) [level, last] = [Math.min(capacity, level + (nowMs - last) * limit), nowMs];
    }
    const need = cost * windowMs;
    if (level >= need) {
      const after = level - need;
      let resetMs = Math.ceil((capacity - after) / limit);
      if (after < capacity) resetMs += last - nowMs;
      return {
        allowed: true,
        remaining: Math.floor(after / windowMs),
        resetMs,
        retryAfterMs: 0,
        next: [after, last],
        atMs: last,
        horizonMs: Infinity,
      };
    }
    return {
      allowed: false,
      remaining: Math.floor(level / windowMs),
      resetMs: Math.ceil((capacity - level) / limit) + last - nowMs,
      retryAfterMs: Math.max(1, Math.ceil((need - level) / limit) + last - nowMs),
      next: [],
      atMs: last,
      horizonMs: Infinity,
    };
  },
};
