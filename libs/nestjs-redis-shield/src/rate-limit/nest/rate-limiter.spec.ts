import type { IncomingMessage } from 'node:http';
import { ManualClock } from '../../core/clock.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import type { RateLimitDecisionEvent } from '../engine/rate-limit.events.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import { BlockCache } from '../engine/block-cache.js';
import { buildPolicy } from '../engine/policy.js';
import { RateLimitUnavailableException } from './rate-limit.exceptions.js';
import type { FailMode } from '../engine/rate-limit.options.js';
import { RateLimiter } from './rate-limiter.js';
import type { RateLimitStore, RateLimitStoreDecision } from '../store/store.interface.js';
import { MemoryRateLimitStore } from '../store/memory.store.js';

const LIMIT = 3;
const POLICY = buildPolicy('default', { tiers: { minute: { limit: LIMIT, windowMs: 60_000 } } }, 'fixed-window');

/** Redis's answer for the default policy: admitted with `remaining` left, or rejected for a minute. */
function decision(allowed: boolean, remaining = 0): RateLimitStoreDecision {
  return {
    allowed,
    nowMs: 0,
    tiers: [
      {
        policy: 'default',
        tier: 'minute',
        limit: LIMIT,
        windowMs: 60_000,
        shadow: false,
        allowed,
        remaining,
        resetMs: 60_000,
        retryAfterMs: allowed ? 0 : 60_000,
      },
    ],
  };
}

/** A Redis store whose calls the test answers one by one, in the order they were made. */
function pendingStore() {
  const calls: { resolve: (d: RateLimitStoreDecision) => void; reject: (e: unknown) => void }[] = [];
  const store = {
    consume: () => new Promise<RateLimitStoreDecision>((resolve, reject) => calls.push({ resolve, reject })),
  } as unknown as RateLimitStore;
  return { store, calls };
}

/** The parts of a ready connection the limiter reads, and `extra`. */
function readyConnection(extra: object = {}): RedisConnection {
  return {
    name: 'default',
    commandTimeoutMs: 100,
    circuitOpen: false,
    state: 'ready',
    keys: { hashId: (id: string) => `h:${id}` },
    ...extra,
  } as unknown as RedisConnection;
}

/** A limiter with a Redis store the test controls, the real fallback and block cache. */
function setup(failMode: FailMode) {
  const { store, calls } = pendingStore();
  const connection = readyConnection();
  const fallback = new MemoryRateLimitStore({ clock: new ManualClock(0) });
  const limiter = new RateLimiter({ fallback, failMode, store, connection, blocks: new BlockCache(100, () => 0) });
  const consume = () =>
    limiter.consume({ request: {} as IncomingMessage, clientId: 'ip:1', policies: [POLICY], cost: 1 });
  return { limiter, calls, consume };
}

describe('RateLimiter, when a Redis call fails', () => {
  it.each<FailMode>(['open', 'closed'])(
    '%s: a rejection that arrived while the request waited answers it, never a fresh fallback quota',
    async (failMode) => {
      const { limiter, calls, consume } = setup(failMode);
      try {
        // Two requests of a client in flight together; Redis rejects the first...
        const first = consume();
        const second = consume();
        calls[0].resolve(decision(false));
        expect(await first).toMatchObject({ result: { allowed: false }, fallback: false });
        // ... and the second's call fails (a timeout): it is rejected by what Redis said.
        calls[1].reject(new RedisUnavailableError('timeout', 'default'));
        expect(await second).toMatchObject({ result: { allowed: false, retryAfterMs: 60_000 }, fallback: false });
      } finally {
        limiter.close();
      }
    },
  );

  it('without a block, open mode counts in the fallback and closed mode answers 503', async () => {
    const open = setup('open');
    const closed = setup('closed');
    try {
      const admitted = open.consume();
      open.calls[0].reject(new RedisUnavailableError('timeout', 'default'));
      expect(await admitted).toMatchObject({ result: { allowed: true, remaining: LIMIT - 1 }, fallback: true });
      const refused = closed.consume();
      closed.calls[0].reject(new RedisUnavailableError('timeout', 'default'));
      await expect(refused).rejects.toBeInstanceOf(RateLimitUnavailableException);
    } finally {
      open.limiter.close();
      closed.limiter.close();
    }
  });
});

describe('RateLimiter, concurrency slots when Redis fails', () => {
  const SLOTS = buildPolicy(
    'slots',
    { tiers: { inflight: { kind: 'concurrency', limit: 2, leaseMs: 5000 } } },
    'fixed-window',
  );

  /**
   * A Redis store whose consume fails with `error` (or admits, without one) and whose
   * release fails with `releaseError` while `down`.
   */
  function failing(error?: Error, releaseError: Error = new RedisUnavailableError('circuit-open', 'default')) {
    const state = {
      down: true,
      released: [] as string[],
      undos: [] as [string, number, () => Promise<unknown>][],
      warnings: [] as string[],
    };
    const store = {
      consume: () => (error ? Promise.reject(error) : Promise.resolve(slotDecision())),
      release: async (_clientId: string, _policies: unknown, token: string) => {
        if (state.down) throw releaseError;
        state.released.push(token);
      },
    } as unknown as RateLimitStore;
    const connection = readyConnection({
      undoWhenReady: (key: string, ms: number, undo: () => Promise<unknown>) => state.undos.push([key, ms, undo]),
    });
    const fallback = new MemoryRateLimitStore({ clock: new ManualClock(0) });
    const logger = { log() {}, error() {}, warn: (message: string) => state.warnings.push(message) };
    const limiter = new RateLimiter({ fallback, store, connection, logger });
    const consume = () => limiter.consume({ clientId: 'ip:1', policies: [SLOTS], cost: 1, holdSlots: true });
    return { limiter, state, consume };
  }

  /** Redis admitting the call into the one slot tier. */
  function slotDecision(): RateLimitStoreDecision {
    const tier = { policy: 'slots', tier: 'inflight', limit: 2, windowMs: 0, shadow: false, allowed: true };
    return { allowed: true, nowMs: 0, tiers: [{ ...tier, remaining: 1, resetMs: 0, retryAfterMs: 0 }] };
  }

  it('an admitted call whose release finds Redis unreachable: retried once it is ready, nothing logged', async () => {
    const { limiter, state, consume } = failing();
    try {
      const decision = await consume();
      expect(decision).toMatchObject({ result: { allowed: true }, fallback: false });
      decision.release!();
      await new Promise((resolve) => setImmediate(resolve));
      expect(state.undos).toHaveLength(1);
      expect(state.warnings).toEqual([]);
      state.down = false;
      await state.undos[0][2]();
      expect(state.released).toHaveLength(1);
    } finally {
      limiter.close();
    }
  });

  it('a release Redis refused (a command error): logged, left to the lease', async () => {
    const { limiter, state, consume } = failing(undefined, new Error('OOM command not allowed'));
    try {
      (await consume()).release!();
      await new Promise((resolve) => setImmediate(resolve));
      expect(state.undos).toEqual([]);
      expect(state.warnings).toEqual([
        'concurrency slot release failed (the lease frees the slot): OOM command not allowed',
      ]);
    } finally {
      limiter.close();
    }
  });

  it('a script that may have run (timed out): its slot is given back, and once Redis is ready if not now', async () => {
    const { limiter, state, consume } = failing(new RedisUnavailableError('timeout', 'default'));
    try {
      expect(await consume()).toMatchObject({ result: { allowed: true }, fallback: true });
      await new Promise((resolve) => setImmediate(resolve));
      expect(state.undos.map(([key, ms]) => [key.startsWith('slots:'), ms])).toEqual([[true, 5000]]);
      state.down = false;
      await state.undos[0][2]();
      expect(state.released).toHaveLength(1);
    } finally {
      limiter.close();
    }
  });

  it('a script never sent (the breaker open): nothing to give back, now or later', async () => {
    const { limiter, state, consume } = failing(new RedisUnavailableError('circuit-open', 'default'));
    try {
      expect(await consume()).toMatchObject({ result: { allowed: true }, fallback: true });
      await new Promise((resolve) => setImmediate(resolve));
      expect(state.undos).toEqual([]);
      expect(state.released).toEqual([]);
    } finally {
      limiter.close();
    }
  });
});

describe('RateLimiter, the one way into the counters', () => {
  it('reports the decisions of HTTP requests as ratelimit.decision, never those of service calls', async () => {
    const events = new ShieldEvents();
    const seen: RateLimitDecisionEvent[] = [];
    events.on('ratelimit.decision', (event) => seen.push(event));
    const limiter = new RateLimiter({ fallback: new MemoryRateLimitStore({ clock: new ManualClock(0) }), events });
    try {
      const call = { clientId: 'ip:1', policies: [POLICY], cost: 1 };
      await limiter.consume(call);
      expect(seen).toEqual([]);
      await limiter.consume({ ...call, request: {} as IncomingMessage, route: '/r' });
      expect(seen).toMatchObject([
        { clientId: 'ip:1', route: '/r', fallback: false, result: { remaining: LIMIT - 2 } },
      ]);
    } finally {
      limiter.close();
    }
  });

  it('asks a custom store (no connection) first, and falls back when it throws a Redis error', async () => {
    const { store, calls } = pendingStore();
    const fallback = new MemoryRateLimitStore({ clock: new ManualClock(0) });
    const limiter = new RateLimiter({ fallback, store, hashId: (id) => `h:${id}` });
    try {
      expect(limiter.primary).toBe(store);
      expect(limiter.connection).toBe('custom');
      expect(limiter.fallbackActive).toBe(false);
      const first = limiter.consume({ clientId: 'ip:1', policies: [POLICY], cost: 1 });
      calls[0].resolve(decision(true, LIMIT - 1));
      expect(await first).toMatchObject({ result: { allowed: true, remaining: LIMIT - 1 }, fallback: false });
      const second = limiter.consume({ clientId: 'ip:1', policies: [POLICY], cost: 1 });
      calls[1].reject(new RedisUnavailableError('connection', 'custom'));
      // The fallback counts from zero, under the hashed id.
      expect(await second).toMatchObject({ result: { allowed: true, remaining: LIMIT - 1 }, fallback: true });
      expect((await fallback.peek({ clientId: 'h:ip:1', policies: [POLICY] })).tiers[0].remaining).toBe(LIMIT - 1);
    } finally {
      limiter.close();
    }
  });
});

describe('RateLimiter.resetHashed', () => {
  it('resets through the store by HMAC and drops the local state kept under that HMAC', async () => {
    const fallback = new MemoryRateLimitStore({ clock: new ManualClock(0) });
    const reset: string[] = [];
    const store: RateLimitStore = {
      consume: () => Promise.reject(new RedisUnavailableError('connection', 'custom')),
      peek: () => Promise.reject(new RedisUnavailableError('connection', 'custom')),
      reset: () => Promise.resolve(),
      resetHashed: (hash) => {
        reset.push(hash);
        return Promise.resolve();
      },
    };
    const limiter = new RateLimiter({ fallback, store, hashId: (id) => `h:${id}` });
    try {
      // Counted by the fallback under the hashed id while the store fails.
      await limiter.consume({ clientId: 'ip:1', policies: [POLICY], cost: LIMIT });
      expect((await fallback.peek({ clientId: 'h:ip:1', policies: [POLICY] })).tiers[0].remaining).toBe(0);
      await limiter.resetHashed('h:ip:1', [POLICY]);
      expect(reset).toEqual(['h:ip:1']);
      expect((await fallback.peek({ clientId: 'h:ip:1', policies: [POLICY] })).tiers[0].remaining).toBe(LIMIT);
    } finally {
      limiter.close();
    }
  });

  it('refuses with HashedResetUnsupportedError (SHIELD_E031) when the store keys clients its own way', async () => {
    const { store } = pendingStore();
    const limiter = new RateLimiter({ fallback: new MemoryRateLimitStore({ clock: new ManualClock(0) }), store });
    try {
      await expect(limiter.resetHashed('AAAAAAAAAAAAAAAAAAAAAA', [POLICY])).rejects.toMatchObject({
        name: 'HashedResetUnsupportedError',
        code: 'SHIELD_E031',
      });
    } finally {
      limiter.close();
    }
  });
});
