import { costAboveLimit, type TierDecider } from './algorithm.js';
import { mulDivMod } from './exact-arithmetic.js';

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
 * Exact: the TAT is a rational `tatMs + frac / N` ms (0 ≤ frac < N), advanced by exactly
 * cost × windowMs / N ({@link mulDivMod}: no product above 2^53 for any supported limit and
 * window); `remaining` is the whole units that still fit, resets and waits the first whole
 * milliseconds. When the limit of a running tier is lowered below a stored frac, the TAT
 * is rounded up to the next millisecond. Cost: O(1), one field `tatMs`, or `tatMs:frac`
 * between whole milliseconds.
 */
export const gcra: TierDecider = {
  decide(state, tier, cost, nowMs) {
    const { limit, windowMs } = tier;
    if (cost > limit) return costAboveLimit(gcra.decide(state, tier, 0, nowMs));
    let tat = nowMs;
    let frac = 0;
    if (state) {
      [tat, frac] = [state[0], state[1] ?? 0];
      if (frac >= limit) [tat, frac] = [tat + 1, 0];
      // tat + frac / limit < nowMs exactly when tat < nowMs (frac / limit < 1).
      if (tat < nowMs) [tat, frac] = [nowMs, 0];
    }
    const [whole, part] = mulDivMod(cost, windowMs, limit);
    let next = tat + whole;
    let nextFrac = frac + part;
    if (nextFrac >= limit) [next, nextFrac] = [next + 1, nextFrac - limit];
    // next − now = ahead + nextFrac / limit ms.
    const ahead = next - nowMs;
    if (ahead < windowMs || (ahead === windowMs && nextFrac === 0)) {
      return {
        allowed: true,
        remaining: unitsWithin(windowMs - ahead, nextFrac, limit, windowMs),
        resetMs: nextFrac > 0 ? ahead + 1 : ahead,
        retryAfterMs: 0,
        next: nextFrac === 0 ? [next] : [next, nextFrac],
        atMs: nowMs,
        horizonMs: Infinity,
      };
    }
    return {
      allowed: false,
      remaining: unitsWithin(windowMs - (tat - nowMs), frac, limit, windowMs),
      resetMs: frac > 0 ? tat - nowMs + 1 : tat - nowMs,
      retryAfterMs: nextFrac > 0 ? ahead - windowMs + 1 : ahead - windowMs,
      next: [],
      atMs: nowMs,
      horizonMs: Infinity,
    };
  },
};

/**
 * The whole units that fit in `ms − frac / limit` ms of spare window, at `windowMs / limit`
 * ms each: ⌊(ms × limit − frac) / windowMs⌋, and 0 when nothing is spare.
 */
function unitsWithin(ms: number, frac: number, limit: number, windowMs: number): number {
  if (ms <= 0) return 0;
  const [whole, part] = mulDivMod(ms, limit, windowMs);
  return part >= frac ? whole : whole - Math.ceil((frac - part) / windowMs);
}
