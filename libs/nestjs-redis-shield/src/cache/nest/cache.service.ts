import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModulesContainer, Reflector } from '@nestjs/core';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import { messages, withCode } from '../../core/errors.js';
import { SingleFlight } from '../../core/single-flight.js';
import { CacheStatsCounter } from './cache-stats.counter.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import { CACHE_BUS, CACHE_CONNECTION, CACHE_OPTIONS } from './cache.constants.js';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import { checkInvalidationPatterns } from './invalidation-patterns.js';
import { checkPattern } from '../engine/pattern.js';
import { compilePattern, ResponseCacheStore, type ResponseCacheStats } from '../store/response-cache.store.js';

/** Cache statistics: store figures plus the hit ratio over all instances, and this instance's bus lag. */
export interface CacheStats extends ResponseCacheStats {
  /** hits / (hits + misses), 0 before any lookup. */
  hitRatio: number;
  /**
   * Delivery lag, in ms, of the instance bus messages (invalidations for the L1) that
   * reached the instance answering, from other instances; null when its connection has
   * no bus. By the hosts' wall clocks: skew shifts it, a negative difference counts as 0.
   */
  busLagMs: {
    /** The latest message's lag; null before the first. */
    last: number | null;
    /** The largest since the instance started; null before the first. */
    max: number | null;
    /** Messages measured. */
    measured: number;
  } | null;
}

/**
 * Cache management and programmatic caching (the seed's `cache_service`). Every
 * invalidation goes through indexes: cost O(matched routes or paths + entries removed),
 * never `KEYS`, `SCAN` or `FLUSH*`, and only this library's entries are touched.
 * Patterns: a plain string matches every path or template containing it; `*` matches
 * any run of characters (then the pattern must match the whole text). Patterns are
 * bounded by the module's `maxPatternLength` and `maxPatternStars`; at start-up the
 * service checks every `@InvalidateCache` pattern of the application's controllers
 * against them and throws naming the handler.
 */
@Injectable()
export class CacheService implements OnModuleInit {
  /** {@link wrap} calls running `fn`, by key: concurrent calls share one run. */
  private readonly flights = new SingleFlight<unknown>();

  /** @internal Instantiated by Nest; import `ResponseCacheModule` and inject the service. */
  constructor(
    private readonly store: ResponseCacheStore,
    private readonly counter: CacheStatsCounter,
    @Inject(CACHE_CONNECTION) private readonly connection: RedisConnection,
    @Inject(CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
    private readonly modules: ModulesContainer,
    private readonly reflector: Reflector,
    @Inject(CACHE_BUS) private readonly bus: InstanceBus | null = null,
  ) {}

  /** @internal Refuses to start with an `@InvalidateCache` pattern over the caps (a programming error). */
  onModuleInit(): void {
    checkInvalidationPatterns(this.modules, this.reflector, this.options);
  }

  /**
   * Removes entries whose concrete request path matches (`/api/v1/models/gpt-4`).
   * Rejects with `InvalidPatternError` when the pattern is empty or over
   * `maxPatternLength` / `maxPatternStars`, before touching Redis.
   */
  async invalidatePattern(pattern: string): Promise<number> {
    return this.store.clearPaths(compilePattern(checkPattern(pattern, this.options)));
  }

  /**
   * Removes entries whose route template matches (`/api/v1/models/:id`). Rejects with
   * `InvalidPatternError` as {@link invalidatePattern} does.
   */
  async clearEndpoint(pattern: string): Promise<number> {
    return this.store.clearRoutes(compilePattern(checkPattern(pattern, this.options)));
  }

  /** Removes every per-user entry of one user (shared entries stay). */
  clearUser(userId: string): Promise<number> {
    return this.store.clearUser(userId);
  }

  /** Removes entries of routes tagged with any of the tags (`@CacheTags`). */
  clearTags(...tags: string[]): Promise<number> {
    return this.store.clearTags(tags);
  }

  /** Removes every response entry of this library; nothing else in Redis. */
  clearAll(): Promise<number> {
    return this.store.clearAll();
  }

  /**
   * Hits (by tier), misses and ratio, stale serves, lease waits and background refreshes
   * over all instances (counts flushed at least every second), entries, memory, TTLs; and
   * this instance's bus delivery lag.
   */
  async getStats(): Promise<CacheStats> {
    await this.counter.flush();
    const stats = await this.store.stats();
    const lookups = stats.hits + stats.misses;
    const lag = this.bus?.stats().lag;
    return {
      ...stats,
      hitRatio: lookups === 0 ? 0 : stats.hits / lookups,
      busLagMs: lag ? { last: lag.lastMs, max: lag.maxMs, measured: lag.measured } : null,
    };
  }

  /** A programmatic value, or undefined when absent (or Redis is unavailable). */
  async get<T>(key: string): Promise<T | undefined> {
    try {
      const raw = await this.connection.run((client) => client.get(this.connection.keys.cacheValue(key)));
      return raw === null ? undefined : (JSON.parse(raw) as T);
    } catch (error) {
      if (error instanceof RedisUnavailableError || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /**
   * Stores a JSON-serialisable value for `ttlSeconds`. Throws a `RangeError` (SHIELD_E009)
   * when `ttlSeconds` is not positive and a `TypeError` (SHIELD_E022) when the value has
   * no JSON form.
   */
  async set(key: string, value: unknown, { ttlSeconds }: { ttlSeconds: number }): Promise<void> {
    if (!(ttlSeconds > 0)) {
      throw withCode(new RangeError(messages.invalidArgument('ttlSeconds', ttlSeconds, 'positive')), 'invalidArgument');
    }
    const text = JSON.stringify(value);
    if (text === undefined) throw withCode(new TypeError(messages.cacheValueNotJson(key)), 'cacheValueNotJson');
    await this.connection.run(
      (client) => client.set(this.connection.keys.cacheValue(key), text, 'PX', Math.round(ttlSeconds * 1000)),
      { tripsBreaker: false },
    );
  }

  /** Deletes a programmatic value. */
  async del(key: string): Promise<void> {
    await this.connection.run((client) => client.del(this.connection.keys.cacheValue(key)));
  }

  /**
   * The cached value of `key`, or `fn()`'s result stored for `ttlSeconds`. Concurrent
   * calls for one key on this instance run `fn` once; with Redis unavailable `fn` runs
   * and nothing is stored.
   */
  async wrap<T>(key: string, fn: () => T | Promise<T>, options: { ttlSeconds: number }): Promise<T> {
    const cached = await this.get<T>(key);
    if (cached !== undefined) return cached;
    return this.flights.run(key, async () => {
      const value = await fn();
      await this.set(key, value, options).catch(() => undefined);
      return value;
    }) as Promise<T>;
  }
}
