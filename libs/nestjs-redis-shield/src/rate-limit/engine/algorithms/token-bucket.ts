import { costAboveLimit, type TierDecider } from './algorithm.js';
import { mulDivMod } from './exact-arithmetic.js';

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
 * Exact: the level is a rational `tokens + frac / windowMs` (0 ≤ frac < windowMs), so a
 * refill of Δ ms adds exactly Δ × N / windowMs tokens ({@link mulDivMod}: no product above
 * 2^53 for any supported limit and window), `remaining` is the whole tokens, and resets and
 * waits are the first whole milliseconds at which the bucket holds enough.
 * Cost: O(1), one field `tokens:lastMs`, or `tokens:frac:lastMs` between whole tokens.
 */
export const tokenBucket: TierDecider = {
  decide(state, tier, cost, nowMs) {
    const { limit, windowMs } = tier;
    if (cost > limit) return costAboveLimit(tokenBucket.decide(state, tier, 0, nowMs));
    let tokens = limit;
    let frac = 0;
    let last = nowMs;
    if (state) {
      [tokens, frac, last] = state.length === 2 ? [state[0], 0, state[1]] : [state[0], state[1], state[2]];
      if (nowMs > last) {
        const elapsed = nowMs - last;
        last = nowMs;
        if (elapsed >= windowMs) tokens = limit;
        else {
          const [whole, part] = mulDivMod(elapsed, limit, windowMs);
          [tokens, frac] = [tokens + whole, frac + part];
          if (frac >= windowMs) [tokens, frac] = [tokens + 1, frac - windowMs];
        }
      }
      // Never above the capacity (a lowered limit applies at once).
      if (tokens >= limit) [tokens, frac] = [limit, 0];
    }
    if (tokens >= cost) {
      const after = tokens - cost;
      return {
        allowed: true,
        remaining: after,
        resetMs: after < limit ? refillMs(limit - after, frac, limit, windowMs) + last - nowMs : 0,
        retryAfterMs: 0,
        // Whole tokens (frac 0) are the common case: a fresh bucket's first request.
        next: frac === 0 ? [after, last] : [after, frac, last],
        atMs: last,
        horizonMs: Infinity,
      };
    }
    return {
      allowed: false,
      remaining: tokens,
      resetMs: refillMs(limit - tokens, frac, limit, windowMs) + last - nowMs,
      retryAfterMs: refillMs(cost - tokens, frac, limit, windowMs) + last - nowMs,
      next: [],
      atMs: last,
      horizonMs: Infinity,
    };
  },
};

/**
 * Whole milliseconds until a level of `x + frac / windowMs` tokens reaches `x + tokens`
 * (1 ≤ tokens ≤ limit): ⌈(tokens × windowMs − frac) / limit⌉, exactly.
 */
function refillMs(tokens: number, frac: number, limit: number, windowMs: number): number {
  const [whole, part] = mulDivMod(tokens, windowMs, limit);
  return part > frac ? whole + 1 : whole - Math.floor((frac - part) / limit);
}
