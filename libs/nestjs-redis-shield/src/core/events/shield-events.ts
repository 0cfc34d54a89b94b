import { Injectable, Logger } from '@nestjs/common';

/** A connection's health as the rest of the library and operators see it. */
export type RedisConnectionState = 'ready' | 'down';

/** Emitted once per change of a connection's state. */
export interface RedisStateEvent {
  /** The connection's name. */
  connection: string;
  /** The new state. */
  state: RedisConnectionState;
  /** Why it changed, e.g. `connected`, `circuit open after 3 failures`, `connection closed`. */
  reason: string;
}

/** How a Redis call ended: a reply, an error reply, out of time, or not sent / no connection. */
export type RedisCommandOutcome = 'ok' | 'error' | 'timeout' | 'unavailable';

/** Emitted for every call through `RedisConnection.run` that reached Redis or timed out. */
export interface RedisCommandEvent {
  /** The connection's name. */
  connection: string;
  /** The script name (`ratelimit`, `cache_index_add`, ...), or the command family (`ping`, `scan`, `other`). */
  command: string;
  /** Wall time of the call, in ms. */
  durationMs: number;
  /** How the call ended. */
  outcome: RedisCommandOutcome;
}

/** `X-Cache-Status` of one response the cache interceptor handled. */
export type CacheLookupStatus = 'HIT' | 'STALE' | 'MISS' | 'BYPASS';

/** Emitted once per cacheable request, with its final status. */
export interface CacheLookupEvent {
  /** The route template (`/api/v1/models/:id`), never the concrete path. */
  route: string;
  /** The `X-Cache-Status` the response got. */
  status: CacheLookupStatus;
}

/** Emitted when a response was stored in the cache. */
export interface CacheStoreEvent {
  /** The route template (`/api/v1/models/:id`), never the concrete path. */
  route: string;
  /** The stored value's size in bytes (after compression). */
  bytes: number;
  /** True for a per-user entry (a route not `@CacheShared()`): its size is one user's, not every caller's. */
  perUser: boolean;
}

/** Emitted when a stored cache entry could not be decoded (it is deleted and recomputed). */
export interface CacheCorruptEvent {
  /** The route template (`/api/v1/models/:id`), never the concrete path. */
  route: string;
}

/** Where a cache hit was answered from: the in-process L1, or Redis (L2). */
export type CacheHitTier = 'l1' | 'l2';

/** Emitted once per lookup answered from the cache, with the tier that answered it. */
export interface CacheHitEvent {
  /** `l1`: this instance's memory, no Redis command; `l2`: Redis. */
  tier: CacheHitTier;
}

/**
 * Why a stale entry was served: within its stale-while-revalidate window (a background
 * refresh follows), or because recomputing it failed (stale-if-error).
 */
export type CacheStaleReason = 'revalidate' | 'error';

/** Emitted once per stale entry served. */
export interface CacheStaleEvent {
  /** `revalidate`: stale-while-revalidate; `error`: stale-if-error. */
  reason: CacheStaleReason;
}

/**
 * How a miss that found another instance's lease on its key ended: the other instance's
 * entry arrived (`filled`), the follower timeout passed and it ran the handler itself
 * (`timeout`), or the lease became free and it ran the handler as the new leader (`leader`).
 */
export type CacheLeaseWaitOutcome = 'filled' | 'timeout' | 'leader';

/** Emitted once per miss that waited on another instance's lease, when the wait ends. */
export interface CacheLeaseWaitEvent {
  /** How the wait ended. */
  outcome: CacheLeaseWaitOutcome;
}

/** How a background refresh (after a stale-while-revalidate serve) ended: a fresh entry stored, or not. */
export type CacheRefreshOutcome = 'stored' | 'failed';

/** Emitted once per background refresh, when it finished. */
export interface CacheRefreshEvent {
  /** `stored`: a fresh entry replaced the stale one; `failed`: the handler or the write failed (the stale entry stays). */
  outcome: CacheRefreshOutcome;
}

/** Whether a connection's instance bus is subscribed (`up`) or not (`down`). */
export type BusState = 'up' | 'down';

/** Emitted once per change of an instance bus's state (not per failed reconnect). */
export interface BusStateEvent {
  /** The connection the bus rides on. */
  connection: string;
  /** The new state. */
  state: BusState;
  /** Why it changed, e.g. `subscribed`, `connection closed`, `no answer to PING within 1000 ms`. */
  reason: string;
  /** The bus's epoch after the change (it changes on every change of state). */
  epoch: number;
}

/** Emitted for every message received from another instance that carries its send time. */
export interface BusDeliveryEvent {
  /** The connection the bus rides on. */
  connection: string;
  /**
   * Receive time minus send time, in ms, by the two hosts' wall clocks: clock skew between
   * them shifts it, and a negative difference counts as 0.
   */
  lagMs: number;
}

/**
 * Every internal event by name. Events whose payloads need only core types are declared
 * here; a feature whose payloads carry its own types adds them to this interface from its
 * own folder (`rate-limit/engine/rate-limit.events.ts`), so core depends on no feature.
 */
export interface ShieldEventMap {
  /** A connection became ready or went down. */
  'redis.state': RedisStateEvent;
  /** A Redis call finished (or timed out). */
  'redis.command': RedisCommandEvent;
  /** A cacheable request got its final cache status. */
  'cache.lookup': CacheLookupEvent;
  /** A response was written to the cache. */
  'cache.store': CacheStoreEvent;
  /** A stored entry failed to decode and was deleted. */
  'cache.corrupt': CacheCorruptEvent;
  /** A lookup was answered from the cache (L1 or Redis). */
  'cache.hit': CacheHitEvent;
  /** A stale entry was served (stale-while-revalidate or stale-if-error). */
  'cache.stale': CacheStaleEvent;
  /** A miss that waited on another instance's lease stopped waiting. */
  'cache.lease.wait': CacheLeaseWaitEvent;
  /** A background refresh finished. */
  'cache.refresh': CacheRefreshEvent;
  /** An instance bus subscribed, or lost its subscription: local state must then age out. */
  'bus.state': BusStateEvent;
  /** A message from another instance arrived, with its delivery lag. */
  'bus.delivery': BusDeliveryEvent;
}

/** A subscriber of one {@link ShieldEvents} event; it runs synchronously on the emitter's path, so keep it cheap. */
export type Listener<K extends keyof ShieldEventMap> = (event: ShieldEventMap[K]) => void;

/**
 * The library's internal event bus. The hot path emits small synchronous events;
 * metrics, logs and the violation stream subscribe, so nothing on the hot path knows
 * about them. A throwing listener is logged and never breaks the emitter.
 */
@Injectable()
export class ShieldEvents {
  private readonly logger = new Logger('RedisShield');
  private readonly listeners = new Map<keyof ShieldEventMap, Set<Listener<never>>>();

  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof ShieldEventMap>(type: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Whether anything listens to `type`: lets emitters skip building an event nobody reads. */
  has(type: keyof ShieldEventMap): boolean {
    return (this.listeners.get(type)?.size ?? 0) > 0;
  }

  /** Calls every listener of `type` synchronously, in subscription order; a throwing listener is logged and skipped. */
  emit<K extends keyof ShieldEventMap>(type: K, event: ShieldEventMap[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(event);
      } catch (error) {
        this.logger.error(`listener of '${type}' failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
