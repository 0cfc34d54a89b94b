import { AdmissionLog, clockWalk, guaranteeViolations } from '../../../../../test/integration/rate-limit/clock-walk.js';
import { ManualClock } from '../../core/clock.js';
import { WINDOW_EPOCH_MS } from '../engine/algorithms/algorithm.js';
import { buildPolicy } from '../engine/policy.js';
import { RATE_LIMIT_ALGORITHMS } from '../engine/algorithms/registry.js';
import { MemoryRateLimitStore } from './memory.store.js';

const N = 5;
const W = 10_000;
const T0 = WINDOW_EPOCH_MS + 200_000 * W;

describe('the memory store under a clock that steps back', () => {
  let clock: ManualClock;
  let store: MemoryRateLimitStore;

  beforeEach(() => {
    clock = new ManualClock(T0);
    store = new MemoryRateLimitStore({ clock });
  });

  afterEach(() => store.close());

  // The invariant each algorithm keeps on the bucket's own clock (the latest admitted
  // instant): see guaranteeViolations. A window restarted after a step back breaks it.
  describe.each(RATE_LIMIT_ALGORITHMS)('%s', (algorithm) => {
    const policy = buildPolicy(`steps-${algorithm}`, { tiers: { only: { limit: N, windowMs: W } } }, algorithm);

    it.each([1, 2, 3, 4, 5, 6, 7, 8])('keeps its guarantee over a random walk (seed %d)', async (seed) => {
      const log = new AdmissionLog();
      for (const { nowMs, cost } of clockWalk(seed, T0 + seed * 997, W, 400, N)) {
        clock.set(nowMs);
        const decision = await store.consume({ clientId: 'walker', policies: [policy], cost });
        log.record(nowMs, cost, decision.allowed);
      }
      expect(log.admissions.length).toBeGreaterThan(40);
      expect(guaranteeViolations(algorithm, log.admissions, N, W, WINDOW_EPOCH_MS)).toEqual([]);
    });

    it('never restarts a window or refills when the clock steps back', async () => {
      const consume = () => store.consume({ clientId: 'c', policies: [policy], cost: 1 });
      const bucketMs = T0 + W + 1;
      clock.set(bucketMs);
      let admitted = 0;
      for (let i = 0; i < N; i++) if ((await consume()).allowed) admitted++;
      // Back into the previous window (middle, end), then to this window's start: nothing more.
      for (const at of [T0 + W / 2, T0 + W - 1, T0 + W]) {
        clock.set(at);
        const decision = await consume();
        if (decision.allowed) admitted++;
        // The wait counts from the clock as it reads now: the bucket is ahead of it.
        expect(decision.tiers[0].retryAfterMs).toBeGreaterThan(bucketMs - at);
      }
      expect(admitted).toBe(N);
    });
  });

  describe.each(['fixed-window', 'sliding-window'] as const)('%s: the documented bound', (algorithm) => {
    // One tier: the key lives 2 windows, the index is stored modulo 10, so a bucket stays
    // ahead for a backward step of up to 10 - 2 - 2 = 6 windows and starts afresh beyond.
    const policy = buildPolicy(`bound-${algorithm}`, { tiers: { only: { limit: N, windowMs: W } } }, algorithm);

    it.each([
      [1, false],
      [6, false],
      [7, true],
    ])('a step back by %d windows resets the bucket: %s', async (windows, resets) => {
      const start = T0 + 10 * W;
      clock.set(start);
      await store.consume({ clientId: 'c', policies: [policy], cost: N });
      clock.set(start - windows * W);
      const decision = await store.consume({ clientId: 'c', policies: [policy], cost: 1 });
      expect(decision.allowed).toBe(resets);
    });
  });
});
