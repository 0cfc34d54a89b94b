import { RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import { CacheLeases } from './cache-leases.js';

// The leases a leader could not give back (Redis unreachable) are given back when the
// connection is ready again; the Redis side is in cache-distributed.e2e-spec.ts.

function setup(followerTimeoutMs = 10_000) {
  const released: string[] = [];
  let redisUp = false;
  const store = {
    lookup: () => Promise.reject(new Error('not used')),
    releaseLease: async (digest: string, token: string) => {
      if (!redisUp) throw new RedisUnavailableError('circuit-open', 'default');
      released.push(`${digest} ${token}`);
    },
  };
  const listeners = new Set<() => void>();
  const leases = new CacheLeases(store, { followerTimeoutMs }, 100, (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  });
  const ready = async () => {
    redisUp = true;
    for (const listener of listeners) listener();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { leases, released, ready, listeners };
}

describe('CacheLeases, a lease Redis could not be asked to give back', () => {
  it('is given back when the connection is ready again, once', async () => {
    const { leases, released, ready } = setup();
    await leases.finish('d1', 't1', false);
    await leases.finish('d2', 't2', true);
    expect(released).toEqual([]);
    await ready();
    expect(released).toEqual(['d1 t1', 'd2 t2']);
    await ready();
    expect(released).toEqual(['d1 t1', 'd2 t2']);
  });

  it('is kept again when giving it back fails again', async () => {
    const { leases, released, ready, listeners } = setup();
    await leases.finish('d1', 't1', false);
    for (const listener of listeners) listener(); // ready, yet Redis fails once more
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toEqual([]);
    await ready();
    expect(released).toEqual(['d1 t1']);
  });

  it('is forgotten once it lapsed in Redis by itself', async () => {
    const { leases, released, ready } = setup(20);
    await leases.finish('d1', 't1', false);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await leases.finish('d2', 't2', false);
    await ready();
    expect(released).toEqual(['d2 t2']);
  });

  it('keeps the latest lease of a digest, and at most 1024, the oldest dropped first', async () => {
    const { leases, released, ready } = setup();
    await leases.finish('d0', 'old', false);
    for (let i = 0; i < 1024; i++) await leases.finish(`d${i}`, `t${i}`, false);
    await leases.finish('extra', 'tx', false);
    await ready();
    expect(released).toHaveLength(1024);
    expect(released[0]).toBe('d1 t1');
    expect(released.at(-1)).toBe('extra tx');
    expect(released).not.toContain('d0 old');
    expect(released).not.toContain('d0 t0');
  });

  it('stops listening on shutdown', async () => {
    const { leases, released, ready, listeners } = setup();
    await leases.finish('d1', 't1', false);
    leases.onApplicationShutdown();
    expect(listeners.size).toBe(0);
    await ready();
    expect(released).toEqual([]);
  });
});
