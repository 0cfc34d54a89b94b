import type { RateLimitAlgorithmName } from 'nestjs-redis-shield';

/**
 * A reference model of the four rate-limit algorithms for one tier, written for clarity,
 * not speed: every quantity is a BigInt (counts, token levels in 1/window units, arrival
 * times in 1/limit ms), so nothing is ever rounded except where the semantics say so
 * (`floor`/`ceil` to whole units and whole milliseconds, and the sliding window's
 * quantised weight). `retryAfterMs` is found by definition — the first later millisecond
 * at which the same cost would pass — not by the library's closed forms. The stores must
 * agree with it exactly for every supported limit, window and cost.
 */

/** Window numbers count from 2025-01-01T00:00:00Z (the library's documented window epoch). */
export const MODEL_EPOCH_MS = Date.parse('2025-01-01T00:00:00Z');

/**
 * The sliding window weighs the previous window by ⌊(window − elapsed) · 2^21 / window⌋ / 2^21
 * (the documented quantisation: part of the algorithm's semantics).
 */
export const MODEL_WEIGHT_ONE = 2n ** 21n;

/** What a store reports for one tier. */
export interface TierOutcome {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/** A tier's verdict before any wait is looked for; `commit` writes its new state. */
interface Evaluation {
  allowed: boolean;
  remaining: bigint;
  resetMs: bigint;
  /** The instant the new state stands at (the key lives twice the window past it). */
  atMs: number;
  commit(): void;
}

const big = BigInt;

/** ⌊a / b⌋ for b > 0, whatever the sign of a. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** ⌈a / b⌉ for b > 0. */
function ceilDiv(a: bigint, b: bigint): bigint {
  return -floorDiv(-a, b);
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);
const min = (a: bigint, b: bigint) => (a < b ? a : b);

/** One tier of one client, in exact arithmetic. */
export abstract class ReferenceTier {
  protected readonly L: bigint;
  protected readonly W: bigint;
  /** When the last written state stands (undefined: nothing stored). */
  atMs: number | undefined;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    this.L = big(limit);
    this.W = big(windowMs);
  }

  /** The verdict for `cost` at `nowMs` (cost 0: a peek), without changing anything. */
  protected abstract evaluate(nowMs: number, cost: bigint): Evaluation;

  /** Forgets the state, as an expired key does. */
  forget(): void {
    this.atMs = undefined;
    this.clear();
  }

  protected abstract clear(): void;

  /** Decides `cost` at `nowMs` (0: a peek); `commit` writes the new state (callers do when the request is admitted). */
  decide(nowMs: number, cost: number): { outcome: TierOutcome; commit(): void } {
    if (cost > this.limit) {
      // No wait admits it: the tier reports its standing as a peek would.
      const standing = this.evaluate(nowMs, 0n);
      const outcome = { allowed: false, remaining: Number(standing.remaining), resetMs: Number(standing.resetMs) };
      return { outcome: { ...outcome, retryAfterMs: Infinity }, commit: () => {} };
    }
    const verdict = this.evaluate(nowMs, big(cost));
    const outcome = {
      allowed: verdict.allowed,
      remaining: Number(verdict.remaining),
      resetMs: Number(verdict.resetMs),
    };
    const commit = () => {
      verdict.commit();
      this.atMs = verdict.atMs;
    };
    if (verdict.allowed) return { outcome: { ...outcome, retryAfterMs: 0 }, commit };
    return { outcome: { ...outcome, retryAfterMs: this.firstAdmission(nowMs, big(cost)) }, commit };
  }

  /** The smallest t ≥ 1 (ms) such that the same cost would pass at `nowMs + t` (admission only grows with time). */
  private firstAdmission(nowMs: number, cost: bigint): number {
    const passes = (t: number) => this.evaluate(nowMs + t, cost).allowed;
    let high = 1;
    while (!passes(high)) {
      high *= 2;
      if (high > 2 ** 45) throw new Error('the model found no wait that admits the cost');
    }
    let low = Math.floor(high / 2); // does not pass (or is 0)
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (passes(mid)) high = mid;
      else low = mid;
    }
    return high;
  }
}

/** Window number of an instant. */
function windowOf(nowMs: number, windowMs: number): number {
  return Math.floor((nowMs - MODEL_EPOCH_MS) / windowMs);
}

/**
 * Fixed window: `limit` units per aligned window. A bucket whose window is ahead of the
 * clock (it stepped back) goes on counting in that window.
 */
class FixedWindowModel extends ReferenceTier {
  private state: { window: number; count: bigint } | undefined;

  protected clear(): void {
    this.state = undefined;
  }

  protected evaluate(nowMs: number, cost: bigint): Evaluation {
    let window = windowOf(nowMs, this.windowMs);
    let count = 0n;
    if (this.state && this.state.window >= window) ({ window, count } = this.state);
    const startMs = MODEL_EPOCH_MS + window * this.windowMs;
    const allowed = count + cost <= this.L;
    return {
      allowed,
      remaining: allowed ? this.L - count - cost : max(0n, this.L - count),
      resetMs: big(startMs + this.windowMs - nowMs),
      atMs: Math.max(nowMs, startMs),
      commit: () => (this.state = { window, count: count + cost }),
    };
  }
}

/**
 * Sliding window: estimate = previous · weight + current, with the quantised weight
 * ⌊(window − elapsed) · 2^21 / window⌋ / 2^21; admitted when estimate + cost ≤ limit.
 */
class SlidingWindowModel extends ReferenceTier {
  private state: { window: number; current: bigint; previous: bigint } | undefined;

  protected clear(): void {
    this.state = undefined;
  }

  protected evaluate(nowMs: number, cost: bigint): Evaluation {
    let window = windowOf(nowMs, this.windowMs);
    let current = 0n;
    let previous = 0n;
    if (this.state && this.state.window >= window) ({ window, current, previous } = this.state);
    else if (this.state && this.state.window === window - 1) previous = this.state.current;
    const startMs = MODEL_EPOCH_MS + window * this.windowMs;
    const elapsed = big(Math.max(0, nowMs - startMs));
    const weight = floorDiv((this.W - elapsed) * MODEL_WEIGHT_ONE, this.W);
    // Everything in units of 1/2^21: (limit − estimate − cost) · 2^21.
    const room = (this.L - current - cost) * MODEL_WEIGHT_ONE - previous * weight;
    const allowed = room >= 0n;
    const standing = (this.L - current) * MODEL_WEIGHT_ONE - previous * weight;
    return {
      allowed,
      remaining: allowed ? floorDiv(room, MODEL_WEIGHT_ONE) : max(0n, floorDiv(standing, MODEL_WEIGHT_ONE)),
      resetMs: big(startMs + this.windowMs - nowMs),
      atMs: Math.max(nowMs, startMs),
      commit: () => (this.state = { window, current: current + cost, previous }),
    };
  }
}

/**
 * Token bucket: `limit` tokens, refilled continuously at `limit` per window; the level is
 * kept in units of 1/window token, so a refill of Δ ms adds exactly Δ · limit units.
 */
class TokenBucketModel extends ReferenceTier {
  private state: { level: bigint; lastMs: number } | undefined;

  protected clear(): void {
    this.state = undefined;
  }

  protected evaluate(nowMs: number, cost: bigint): Evaluation {
    const capacity = this.L * this.W;
    let level = capacity;
    let lastMs = nowMs;
    if (this.state) {
      ({ level, lastMs } = this.state);
      // A clock behind the bucket refills nothing; the bucket stays at its own time.
      if (nowMs > lastMs) [level, lastMs] = [level + big(nowMs - lastMs) * this.L, nowMs];
      level = min(level, capacity);
    }
    const need = cost * this.W;
    const allowed = level >= need;
    const after = allowed ? level - need : level;
    return {
      allowed,
      remaining: floorDiv(after, this.W),
      // Until the bucket is full again: (capacity − after) / limit ms from the bucket's time.
      resetMs: after === capacity ? 0n : ceilDiv(capacity - after, this.L) + big(lastMs - nowMs),
      atMs: lastMs,
      commit: () => (this.state = { level: after, lastMs }),
    };
  }
}

/**
 * GCRA: a theoretical arrival time (TAT), kept in units of 1/limit ms, advanced by
 * cost · window / limit ms per admission; admitted while max(TAT, now) + that stays
 * within one window of now.
 */
class GcraModel extends ReferenceTier {
  private tat: bigint | undefined;

  protected clear(): void {
    this.tat = undefined;
  }

  protected evaluate(nowMs: number, cost: bigint): Evaluation {
    const now = big(nowMs) * this.L;
    const tat = this.tat === undefined ? now : max(this.tat, now);
    const next = tat + cost * this.W;
    const allowed = next - now <= this.W * this.L;
    const standsAt = allowed ? next : tat;
    return {
      allowed,
      // Units that still fit: (window − (TAT − now)) · limit / window.
      remaining: max(0n, floorDiv(this.W * this.L - (standsAt - now), this.W)),
      resetMs: max(0n, ceilDiv(standsAt - now, this.L)),
      atMs: nowMs,
      commit: () => (this.tat = next),
    };
  }
}

/** A fresh model of one tier. */
export function referenceTier(algorithm: RateLimitAlgorithmName, limit: number, windowMs: number): ReferenceTier {
  switch (algorithm) {
    case 'fixed-window':
      return new FixedWindowModel(limit, windowMs);
    case 'sliding-window':
      return new SlidingWindowModel(limit, windowMs);
    case 'token-bucket':
      return new TokenBucketModel(limit, windowMs);
    case 'gcra':
      return new GcraModel(limit, windowMs);
  }
}

/**
 * A policy of several tiers, all or nothing: a request is admitted (and written to every
 * tier) only when every tier admits it; otherwise nothing is written, and each admitting
 * tier reports its standing without the cost (its remaining and reset as a peek sees them).
 */
export class ReferencePolicy {
  readonly tiers: ReferenceTier[];
  /** The latest instant the written state stands at (undefined: nothing stored). */
  atMs: number | undefined;

  constructor(tiers: readonly { algorithm: RateLimitAlgorithmName; limit: number; windowMs: number }[]) {
    this.tiers = tiers.map(({ algorithm, limit, windowMs }) => referenceTier(algorithm, limit, windowMs));
  }

  /** How long the policy's key lives past its state's time: twice its longest window. */
  get ttlMs(): number {
    return 2 * Math.max(...this.tiers.map((tier) => tier.windowMs));
  }

  /** Decides `cost` (0: a peek, which writes nothing) at `nowMs`; one outcome per tier. */
  decide(nowMs: number, cost: number): TierOutcome[] {
    const verdicts = this.tiers.map((tier) => tier.decide(nowMs, cost));
    const admitted = verdicts.every((verdict) => verdict.outcome.allowed);
    if (admitted && cost > 0) {
      for (const verdict of verdicts) verdict.commit();
      this.atMs = Math.max(nowMs, ...this.tiers.map((tier) => tier.atMs!));
    }
    return verdicts.map(({ outcome }, t) => {
      if (admitted || !outcome.allowed) return outcome;
      const { remaining, resetMs } = this.tiers[t].decide(nowMs, 0).outcome;
      return { ...outcome, remaining, resetMs };
    });
  }

  /** Forgets every tier, as an expired key does. */
  forget(): void {
    this.atMs = undefined;
    for (const tier of this.tiers) tier.forget();
  }
}
