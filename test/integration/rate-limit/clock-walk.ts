import type { RateLimitAlgorithmName } from 'nestjs-redis-shield';

/** One admitted request of a walk: its cost and the bucket's clock when it was admitted. */
export interface Admission {
  cost: number;
  /** The latest instant (ms) among the admitted requests so far, this one included. */
  bucketMs: number;
}

/** One step of a {@link clockWalk}: where the clock stands and what the request costs. */
export interface WalkStep {
  nowMs: number;
  cost: number;
}

/**
 * A seeded random walk of a clock that steps back: true time advances by up to a quarter
 * of a window per step, and two readings in five lag behind it by up to one window less
 * 1 ms (so the clock jumps back and forth, never further back than that below its highest
 * reading). A request of cost 1..`maxCost` at every reading and, in one step of three, a
 * second one at the same reading.
 */
export function clockWalk(seed: number, startMs: number, windowMs: number, steps: number, maxCost: number): WalkStep[] {
  let state = seed;
  const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const walk: WalkStep[] = [];
  let trueMs = startMs;
  for (let step = 0; step < steps; step++) {
    trueMs += Math.floor((random() * windowMs) / 4);
    const nowMs = random() < 0.4 ? trueMs - Math.floor(random() * windowMs) : trueMs;
    walk.push({ nowMs, cost: 1 + Math.floor(random() * maxCost) });
    if (random() < 1 / 3) walk.push({ nowMs, cost: 1 + Math.floor(random() * maxCost) });
  }
  return walk;
}

/** Records admissions on the bucket's own clock: the latest instant among its admitted requests. */
export class AdmissionLog {
  readonly admissions: Admission[] = [];
  private bucketMs = -Infinity;

  /** Notes a request's verdict at `nowMs`. */
  record(nowMs: number, cost: number, admitted: boolean): void {
    if (!admitted) return;
    this.bucketMs = Math.max(this.bucketMs, nowMs);
    this.admissions.push({ cost, bucketMs: this.bucketMs });
  }
}

/**
 * The violations of an algorithm's guarantee by a log of admissions (empty when kept), on
 * the bucket's clock: a rejected request writes nothing, so the bucket only ever saw the
 * times of admitted ones, and time never runs backward for it.
 *
 * - fixed and sliding window: at most `limit` units per aligned window (window number of
 *   `bucketMs` counted from `epochMs`);
 * - token bucket and GCRA: at most `limit + limit · (b − a) / windowMs` units among the
 *   admissions from bucket time a to bucket time b.
 */
export function guaranteeViolations(
  algorithm: RateLimitAlgorithmName,
  admissions: readonly Admission[],
  limit: number,
  windowMs: number,
  epochMs: number,
): string[] {
  const violations: string[] = [];
  if (algorithm === 'fixed-window' || algorithm === 'sliding-window') {
    const perWindow = new Map<number, number>();
    for (const { cost, bucketMs } of admissions) {
      const window = Math.floor((bucketMs - epochMs) / windowMs);
      perWindow.set(window, (perWindow.get(window) ?? 0) + cost);
    }
    for (const [window, units] of perWindow) {
      if (units > limit) violations.push(`${units} units in window ${window}`);
    }
    return violations;
  }
  for (let from = 0; from < admissions.length; from++) {
    let units = 0;
    for (let to = from; to < admissions.length; to++) {
      units += admissions[to].cost;
      const span = admissions[to].bucketMs - admissions[from].bucketMs;
      if (units > limit + (limit * span) / windowMs + 1e-9) {
        violations.push(`${units} units over ${span} ms (admissions ${from}..${to})`);
      }
    }
  }
  return violations;
}
