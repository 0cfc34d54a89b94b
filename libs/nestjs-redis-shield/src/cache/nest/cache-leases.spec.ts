import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import type { LookupReply } from '../store/response-cache.store.js';
import { CacheLeases, type LeaseWait } from './cache-leases.js';

// A follower's wait on another instance's leader ends with the leader's bus message, with a
// poll that reads the entry again, or at once when this instance's Redis connection or bus
// goes down (the leader's message may then never come). The store and the bus are fakes:
// what is tested is when the follower looks again, not Redis (see the cross-instance tests
// in test/cache-distributed.e2e-spec.ts for the real thing).

/** The store as the follower sees it: the lease held, until `redis` says Redis is gone. */
function fakeStore() {
  const store = {
    redis: 'up' as 'up' | 'down',
    lookups: [] as number[],
    lookup: async (): Promise<LookupReply> => {
      store.lookups.push(performance.now());
      if (store.redis === 'down') throw new RedisUnavailableError('circuit-open', 'default');
      return { entry: null, lease: 'held' };
    },
    releaseLease: async () => undefined,
  };
  return store;
}

/** A bus that is subscribed until `connected` is set false, and never delivers anything. */
function fakeBus() {
  return { connected: true, on: () => () => undefined } as unknown as InstanceBus & { connected: boolean };
}

describe('CacheLeases: a follower waiting on another instance', () => {
  let store: ReturnType<typeof fakeStore>;
  let bus: ReturnType<typeof fakeBus>;
  let events: ShieldEvents;
  let leases: CacheLeases;
  let outcome: LeaseWait | 'pending';
  let startedAt: number;

  beforeEach(() => {
    jest.useFakeTimers();
    store = fakeStore();
    bus = fakeBus();
    events = new ShieldEvents();
    const connection = { name: 'default', commandTimeoutMs: 100, undoWhenReady: () => undefined };
    leases = new CacheLeases(store, { followerTimeoutMs: 5000 }, connection, bus, undefined, events);
    outcome = 'pending';
    startedAt = performance.now();
    void leases.wait('digest').then((wait) => (outcome = wait));
  });

  afterEach(() => {
    leases.onApplicationShutdown();
    jest.useRealTimers();
  });

  const state = (type: 'redis.state' | 'bus.state', connection: string, down: boolean) =>
    type === 'redis.state'
      ? events.emit('redis.state', { connection, state: down ? 'down' : 'ready', reason: 'test' })
      : events.emit('bus.state', { connection, state: down ? 'down' : 'up', reason: 'test', epoch: 1 });
  const lookupTimes = () => store.lookups.map((at) => at - startedAt);

  it('with the bus up, reads the entry again every 250 ms while the lease stays held', async () => {
    await jest.advanceTimersByTimeAsync(760);
    expect(lookupTimes()).toEqual([250, 500, 750]);
    expect(outcome).toBe('pending');
  });

  it("runs the handler as soon as its connection's breaker opens, not at its next poll", async () => {
    await jest.advanceTimersByTimeAsync(20);
    store.redis = 'down';
    state('redis.state', 'default', true);
    await jest.advanceTimersByTimeAsync(0);
    expect(outcome).toEqual({ outcome: 'timeout' });
    expect(lookupTimes()).toEqual([20]);
  });

  it('when its bus goes down, looks again at once and then polls at the shorter interval', async () => {
    await jest.advanceTimersByTimeAsync(20);
    bus.connected = false;
    state('bus.state', 'default', true);
    await jest.advanceTimersByTimeAsync(125);
    expect(lookupTimes()).toEqual([20, 70, 120]);
    expect(outcome).toBe('pending');
  });

  it("ignores other connections' outages and a connection coming back", async () => {
    await jest.advanceTimersByTimeAsync(20);
    state('redis.state', 'cache', true);
    state('bus.state', 'cache', true);
    state('redis.state', 'default', false);
    state('bus.state', 'default', false);
    await jest.advanceTimersByTimeAsync(200);
    expect(lookupTimes()).toEqual([]);
    expect(outcome).toBe('pending');
  });

  it('stops listening at shutdown', async () => {
    leases.onApplicationShutdown();
    state('redis.state', 'default', true);
    await jest.advanceTimersByTimeAsync(200);
    expect(lookupTimes()).toEqual([]);
  });
});
