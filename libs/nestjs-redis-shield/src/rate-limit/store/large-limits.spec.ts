import {
  EXACT_LIMITS,
  EXACT_WINDOWS_MS,
  exactWalk,
  walkTiers,
} from '../../../../../test/integration/rate-limit/exact-walk.js';
import { ManualClock } from '../../core/clock.js';
import { buildPolicy } from '../engine/policy.js';
import { RATE_LIMIT_ALGORITHMS } from '../engine/algorithms/registry.js';
import type { TierResult } from '../engine/rate-limit.types.js';
import { MemoryRateLimitStore } from './memory.store.js';

/** Every algorithm, limit and window of the supported ranges' grid (the Redis twin: large-limits.int-spec.ts). */
const GRID = RATE_LIMIT_ALGORITHMS.flatMap((algorithm) =>
  EXACT_LIMITS.flatMap((limit) => EXACT_WINDOWS_MS.map((windowMs) => [algorithm, limit, windowMs] as const)),
);

const outcome = ({ allowed, remaining, resetMs, retryAfterMs }: TierResult) => ({
  allowed,
  remaining,
  resetMs,
  retryAfterMs,
});

describe('the memory store is exact for every supported limit, window and cost', () => {
  it.each(GRID)(
    '%s, limit %d per %d ms, matches the reference model over a random walk',
    async (algorithm, limit, windowMs) => {
      const clock = new ManualClock(0);
      const store = new MemoryRateLimitStore({ clock });
      const tiers = walkTiers(algorithm, limit, windowMs);
      const policy = buildPolicy(
        'exact',
        { tiers: Object.fromEntries(tiers.map((tier, t) => [`t${t}`, tier] as const)) },
        algorithm,
      );
      try {
        for (const [seed, startMs] of [
          [limit + windowMs, Date.parse('2031-03-01T00:00:00Z') + 7919],
          [limit * 3 + windowMs * 7, Date.parse('2020-02-29T23:59:58Z')], // before the window epoch
        ]) {
          const clientId = `client-${seed}`;
          const mismatches = await exactWalk(
            {
              consume: async (nowMs, cost) => {
                clock.set(nowMs);
                return (await store.consume({ clientId, policies: [policy], cost })).tiers.map(outcome);
              },
              peek: async (nowMs) => {
                clock.set(nowMs);
                return (await store.peek({ clientId, policies: [policy] })).tiers.map(outcome);
              },
            },
            { tiers, seed, steps: 250, startMs },
          );
          expect(mismatches).toEqual([]);
        }
      } finally {
        store.close();
      }
    },
  );
});
