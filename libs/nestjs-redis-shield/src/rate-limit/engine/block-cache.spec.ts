import { BlockCache } from './block-cache.js';
import { buildPolicy } from './policy.js';
import type { RateLimitResult } from './rate-limit.types.js';

const DEFAULT = buildPolicy('default', { tiers: { minute: { limit: 2, windowMs: 60_000 } } }, 'sliding-window');
const OTHER = buildPolicy('other', { tiers: { minute: { limit: 5, windowMs: 60_000 } } }, 'sliding-window');

function rejection(retryAfterMs: number, resetMs = 60_000): RateLimitResult {
  const tier = {
    policy: 'default',
    tier: 'minute',
    limit: 2,
    windowMs: 60_000,
    shadow: false,
    allowed: false,
    remaining: 0,
    resetMs,
    retryAfterMs,
  };
  return {
    allowed: false,
    limit: 2,
    remaining: 0,
    resetMs,
    retryAfterMs,
    policy: 'default',
    tier: 'minute',
    nowMs: 1_000,
    tiers: [tier],
  };
}

function setup(maxEntries = 10) {
  let now = 0;
  const cache = new BlockCache(maxEntries, () => now);
  return { cache, at: (ms: number) => (now = ms) };
}

describe('BlockCache', () => {
  it('repeats a rejection until its retry time, with every wait moved on', () => {
    const { cache, at } = setup();
    cache.remember('ip:1', [DEFAULT], 1, rejection(5_000));
    at(2_000);
    const repeated = cache.get('ip:1', [DEFAULT], 1)!;
    expect(repeated).toMatchObject({ allowed: false, retryAfterMs: 3_000, resetMs: 58_000, nowMs: 3_000 });
    expect(repeated.tiers[0]).toMatchObject({ retryAfterMs: 3_000, resetMs: 58_000, allowed: false });
    at(4_999);
    expect(cache.get('ip:1', [DEFAULT], 1)?.retryAfterMs).toBe(1);
    at(5_000); // the retry time: Redis decides again
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a block no longer than the instance bus allows while the bus is, or was, down', () => {
    let now = 0;
    const bus = { epoch: 1, up: true, staleAfterMs: 1_500 };
    const lifetime = {
      get epoch() {
        return bus.epoch;
      },
      maxLocalLifetimeMs: (epoch: number) => (bus.up && epoch === bus.epoch ? Infinity : bus.staleAfterMs),
    };
    const cache = new BlockCache(10, () => now, lifetime);
    cache.remember('ip:1', [DEFAULT], 1, rejection(60_000));
    now = 10_000; // connected all along: the block lasts until its retry time
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeDefined();
    bus.up = false; // the bus went down: a reset may have been missed
    bus.epoch = 2;
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    // A block made while the bus is down lives staleAfterMs, even after the bus is back.
    cache.remember('ip:1', [DEFAULT], 1, rejection(60_000));
    bus.up = true;
    bus.epoch = 3;
    now = 11_500;
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeDefined();
    now = 11_501;
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
  });

  describe('while Redis cannot be asked (the fallback would decide)', () => {
    function staleBus() {
      let now = 0;
      const bus = { epoch: 1, up: true };
      const lifetime = {
        get epoch() {
          return bus.epoch;
        },
        maxLocalLifetimeMs: (epoch: number) => (bus.up && epoch === bus.epoch ? Infinity : 1_500),
      };
      const cache = new BlockCache(10, () => now, lifetime);
      cache.remember('ip:1', [DEFAULT], 1, rejection(60_000));
      bus.up = false; // a Redis outage takes the bus down too
      bus.epoch = 2;
      now = 10_000;
      return { cache, at: (ms: number) => (now = ms) };
    }

    it('a block past the bus bound still rejects, until its retry time: no fresh per-instance quota', () => {
      const { cache, at } = staleBus();
      expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined(); // Redis up: it decides
      const repeated = cache.get('ip:1', [DEFAULT], 1, undefined, { redisDown: true });
      expect(repeated).toMatchObject({ allowed: false, retryAfterMs: 50_000 });
      expect(cache.get('ip:1', [DEFAULT], 2, undefined, { redisDown: true })).toBeDefined();
      expect(cache.get('ip:1', [DEFAULT], 0, undefined, { redisDown: true })).toBeUndefined(); // cheaper
      at(60_000);
      expect(cache.get('ip:1', [DEFAULT], 1, undefined, { redisDown: true })).toBeUndefined();
      expect(cache.size).toBe(0);
    });

    it('a Redis admission of at least the cost drops the block: it was stale (a missed reset)', () => {
      const { cache } = staleBus();
      const admitted = { ...rejection(0), allowed: true, remaining: 1 };
      cache.remember('ip:1', [DEFAULT], 0, admitted); // cheaper: proves nothing
      expect(cache.get('ip:1', [DEFAULT], 1, undefined, { redisDown: true })).toBeDefined();
      cache.remember('ip:1', [DEFAULT], 1, admitted);
      expect(cache.get('ip:1', [DEFAULT], 1, undefined, { redisDown: true })).toBeUndefined();
      expect(cache.size).toBe(0);
    });
  });

  describe('contended clients', () => {
    const admitted = (remaining: number): RateLimitResult => ({ ...rejection(0), allowed: true, remaining });
    const deferred = () => {
      let settle!: () => void;
      const promise = new Promise<void>((resolve) => (settle = resolve));
      return { promise, settle };
    };

    it('a client with room left never leads: its requests go to Redis side by side', () => {
      const { cache } = setup();
      cache.remember('ip:1', [DEFAULT], 1, admitted(1));
      cache.deciding('ip:1', [DEFAULT], deferred().promise);
      expect(cache.leader('ip:1', [DEFAULT])).toBeUndefined();
    });

    it('once at its limit, its next decision leads until settled, for that client and policy set only', async () => {
      const { cache } = setup();
      cache.remember('ip:1', [DEFAULT], 1, admitted(0));
      const decision = deferred();
      cache.deciding('ip:1', [DEFAULT], decision.promise);
      const leader = cache.leader('ip:1', [DEFAULT]);
      expect(leader).toBeDefined();
      expect(cache.leader('ip:1', [OTHER])).toBeUndefined();
      expect(cache.leader('ip:2', [DEFAULT])).toBeUndefined();
      // A second decision sent meanwhile does not replace the leader.
      cache.deciding('ip:1', [DEFAULT], deferred().promise);
      expect(cache.leader('ip:1', [DEFAULT])).toBe(leader);
      decision.settle();
      await leader;
      await Promise.resolve();
      expect(cache.leader('ip:1', [DEFAULT])).toBeUndefined();
    });

    it('a failed decision settles its followers too', async () => {
      const { cache } = setup();
      cache.remember('ip:1', [DEFAULT], 1, rejection(5_000));
      const failed = Promise.reject(new Error('timeout'));
      cache.deciding('ip:1', [DEFAULT], failed);
      await expect(cache.leader('ip:1', [DEFAULT])).resolves.toBeUndefined();
    });

    it('an admission with room left, or a reset, ends contention', () => {
      const { cache } = setup();
      cache.remember('ip:1', [DEFAULT], 1, rejection(5_000));
      cache.remember('ip:1', [DEFAULT], 1, admitted(3));
      cache.deciding('ip:1', [DEFAULT], deferred().promise);
      expect(cache.leader('ip:1', [DEFAULT])).toBeUndefined();
      cache.remember('ip:2', [DEFAULT], 1, admitted(0));
      cache.clear('ip:2');
      cache.deciding('ip:2', [DEFAULT], deferred().promise);
      expect(cache.leader('ip:2', [DEFAULT])).toBeUndefined();
    });
  });

  it('ignores admissions and rejections without a retry time', () => {
    const { cache } = setup();
    cache.remember('ip:1', [DEFAULT], 1, { ...rejection(5_000), allowed: true });
    cache.remember('ip:2', [DEFAULT], 1, rejection(0));
    expect(cache.size).toBe(0);
  });

  it('never remembers a cost above a limit (retry Infinity) as a block, nor as contention', () => {
    const { cache, at } = setup();
    const tooBig = { ...rejection(Infinity), costExceedsLimit: true };
    cache.remember('ip:1', [DEFAULT], 50, tooBig);
    expect(cache.size).toBe(0);
    for (const cost of [1, 2, 50, 99]) expect(cache.get('ip:1', [DEFAULT], cost)).toBeUndefined();
    cache.deciding('ip:1', [DEFAULT], new Promise<void>(() => undefined));
    expect(cache.leader('ip:1', [DEFAULT])).toBeUndefined();
    // A block the client earned with a fitting cost stays as it was.
    cache.remember('ip:2', [DEFAULT], 1, rejection(5_000));
    cache.remember('ip:2', [DEFAULT], 50, tooBig);
    at(1_000);
    expect(cache.get('ip:2', [DEFAULT], 1)).toMatchObject({ retryAfterMs: 4_000 });
    at(5_000);
    expect(cache.get('ip:2', [DEFAULT], 50)).toBeUndefined();
  });

  it('keys by client and policy set, and lets a cheaper request than the rejected one ask Redis', () => {
    const { cache } = setup();
    cache.remember('ip:1', [DEFAULT], 3, rejection(5_000));
    expect(cache.get('ip:2', [DEFAULT], 3)).toBeUndefined();
    expect(cache.get('ip:1', [DEFAULT, OTHER], 3)).toBeUndefined();
    expect(cache.get('ip:1', [DEFAULT], 2)).toBeUndefined(); // might fit before the retry time
    expect(cache.get('ip:1', [DEFAULT], 3)).toBeDefined();
    expect(cache.get('ip:1', [DEFAULT], 9)).toBeDefined();
  });

  it('clear forgets every block of one client only', () => {
    const { cache } = setup();
    cache.remember('ip:1', [DEFAULT], 1, rejection(5_000));
    cache.remember('ip:1', [OTHER], 1, rejection(5_000));
    cache.remember('ip:10', [DEFAULT], 1, rejection(5_000));
    cache.clear('ip:1');
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    expect(cache.get('ip:1', [OTHER], 1)).toBeUndefined();
    expect(cache.get('ip:10', [DEFAULT], 1)).toBeDefined();
  });

  it('holds at most maxEntries blocks, dropping the oldest', () => {
    const { cache } = setup(3);
    for (let i = 0; i < 5; i++) cache.remember(`ip:${i}`, [DEFAULT], 1, rejection(5_000));
    expect(cache.size).toBe(3);
    expect(cache.get('ip:0', [DEFAULT], 1)).toBeUndefined();
    expect(cache.get('ip:1', [DEFAULT], 1)).toBeUndefined();
    expect(cache.get('ip:4', [DEFAULT], 1)).toBeDefined();
  });
});
