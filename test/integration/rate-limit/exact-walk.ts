import type { RateLimitAlgorithmName } from 'nestjs-redis-shield';
import { MODEL_EPOCH_MS, ReferencePolicy, type TierOutcome } from './reference-model.js';

/** Limits, windows and algorithms the exactness walks cover (the supported ranges' corners and middles). */
export const EXACT_LIMITS = [1, 3, 1000, 1_000_000, 10_000_000, 1_000_000_000];
/** 1 ms and 7 ms (sub-second windows stay supported), 1 s, 10 s, 1 h, 1 day, 31 days. */
export const EXACT_WINDOWS_MS = [1, 7, 1000, 10_000, 3_600_000, 86_400_000, 2_678_400_000];

/** One tier of a walk's policy. */
export interface WalkTier {
  algorithm: RateLimitAlgorithmName;
  limit: number;
  windowMs: number;
}

/**
 * The policy a walk drives for a tier: the tier alone, or, for a window under a second,
 * with a second tier of 10^9 per 31 days (same algorithm). That one makes the key live
 * 62 days: Redis expires keys on its own clock, and would drop a 1 ms tier's key 2 ms of
 * real time after each write, far behind the test's clock.
 */
export function walkTiers(algorithm: RateLimitAlgorithmName, limit: number, windowMs: number): WalkTier[] {
  const tier = { algorithm, limit, windowMs };
  return windowMs < 1000 ? [tier, { algorithm, limit: 1_000_000_000, windowMs: 2_678_400_000 }] : [tier];
}

/** One store under test, driven at an instant the walk chooses. */
export interface WalkTarget {
  /** Sets the store's clock to `nowMs` and consumes `cost` (one policy of the walk's tiers, in order). */
  consume(nowMs: number, cost: number): Promise<TierOutcome[]>;
  /** Sets the store's clock to `nowMs` and peeks. */
  peek(nowMs: number): Promise<TierOutcome[]>;
  /**
   * Drops the client's key, as its expiry would have: Redis expires keys on its own clock,
   * which the test's clock outruns. Omitted where the store expires on the test's clock.
   */
  expire?(): Promise<void>;
}

/** A walk's shape. */
export interface WalkOptions {
  /** The policy's tiers; the walk's times and costs are chosen for the first. */
  tiers: WalkTier[];
  seed: number;
  steps: number;
  startMs: number;
}

/** mulberry32: a small seeded generator, so a failing walk can be replayed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Drives `target` and the reference model through the same seeded random walk of times
 * and costs, and returns the first disagreement (empty when the store matched the model
 * at every step). Times: the same instant, a few ms, up to a quarter or a whole window,
 * a window boundary ±1 ms, exactly the last `retryAfterMs` and 1 ms before it, a quiet gap
 * of several windows, and steps back by less than a window (the clock stepping back).
 * Costs: 1, 2–10, limit/2, limit, limit + 1 (never admitted), anything up to the limit,
 * and peeks.
 */
export async function exactWalk(target: WalkTarget, options: WalkOptions): Promise<string[]> {
  const { tiers, seed, steps, startMs } = options;
  const [{ limit, windowMs }] = tiers;
  const model = new ReferencePolicy(tiers);
  const random = generator(seed);
  const upTo = (n: number) => 1 + Math.floor(random() * Math.max(1, n)); // 1..n
  let nowMs = startMs;
  let highestMs = startMs;
  let lastRetry = 0;
  let expiredSinceWrite = false;
  for (let step = 0; step < steps; step++) {
    const r = random();
    if (r < 0.12) {
      // The same instant.
    } else if (r < 0.27) nowMs += upTo(Math.max(2, Math.floor((2 * windowMs) / limit)));
    else if (r < 0.42) nowMs += upTo(windowMs / 4);
    else if (r < 0.52) nowMs += upTo(windowMs);
    else if (r < 0.62) {
      const boundary = MODEL_EPOCH_MS + (Math.floor((nowMs - MODEL_EPOCH_MS) / windowMs) + 1) * windowMs;
      nowMs = Math.max(nowMs, boundary + Math.floor(random() * 3) - 1);
    } else if (r < 0.78) {
      if (Number.isFinite(lastRetry) && lastRetry > 0) nowMs += lastRetry - Math.floor(random() * 2);
    } else if (r < 0.83) nowMs += windowMs * upTo(4) + upTo(windowMs);
    else if (r < 0.93) {
      // Back by less than a window below the highest reading — never into a state that
      // expired (a store may or may not still hold it, as a sweep ran or not).
      if (!expiredSinceWrite && windowMs > 1) nowMs = highestMs - upTo(windowMs - 1);
    } else nowMs += upTo(3);
    highestMs = Math.max(highestMs, nowMs);
    if (model.atMs !== undefined && nowMs >= model.atMs + model.ttlMs) {
      // Its key's ttl (twice the longest window past the state's time) has run out.
      await target.expire?.();
      model.forget();
      expiredSinceWrite = true;
    }
    const c = random();
    const cost =
      c < 0.06
        ? 0
        : c < 0.16
          ? limit + 1
          : c < 0.28
            ? limit
            : c < 0.42
              ? Math.max(1, Math.floor(limit / 2))
              : c < 0.6
                ? 1
                : c < 0.75
                  ? Math.min(limit, 1 + upTo(9))
                  : upTo(limit);
    const expected = model.decide(nowMs, cost);
    const actual = cost === 0 ? await target.peek(nowMs) : await target.consume(nowMs, cost);
    const fields = ['allowed', 'remaining', 'resetMs', 'retryAfterMs'] as const;
    // Object.is: -0 is not 0 (jest's toEqual tells them apart too), Infinity is Infinity.
    const differs = (t: number) => fields.some((field) => !Object.is(actual[t]?.[field], expected[t][field]));
    const t = expected.findIndex((_, index) => differs(index));
    if (t >= 0) {
      const show = (outcome: TierOutcome | undefined) =>
        fields
          .map((field) => `${field} ${Object.is(outcome?.[field], -0) ? '-0' : String(outcome?.[field])}`)
          .join(', ');
      return [
        `${tiers.map((tier) => `${tier.algorithm} ${tier.limit} per ${tier.windowMs} ms`).join(' + ')}, seed ${seed}, ` +
          `step ${step} at start+${nowMs - startMs} ms, ${cost === 0 ? 'peek' : `cost ${cost}`}, tier ${t}: ` +
          `expected ${show(expected[t])}; got ${show(actual[t])}`,
      ];
    }
    if (expected.every((outcome) => outcome.allowed) && cost > 0) expiredSinceWrite = false;
    lastRetry = expected[0].retryAfterMs;
  }
  return [];
}
