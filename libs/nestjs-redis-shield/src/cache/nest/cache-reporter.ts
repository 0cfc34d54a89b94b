import { Logger, type LoggerService } from '@nestjs/common';
import type {
  CacheHitTier,
  CacheLeaseWaitOutcome,
  CacheLookupStatus,
  CacheRefreshOutcome,
  CacheStaleReason,
  ShieldEvents,
} from '../../core/events/shield-events.js';
import { type HttpExchange, recordCacheStatus } from '../../core/http/http-facade.js';
import type { CacheStatsCounter } from './cache-stats.counter.js';

/**
 * `X-Cache-Status` values: the {@link CacheLookupStatus} the `cache.lookup` event carries,
 * under the cache's name for it.
 */
export type CacheStatus = CacheLookupStatus;

/**
 * The counts {@link CacheReporter} keeps: hits and misses always; the distributed cache's
 * tallies when the counter has them (a stage's unit test may pass only what it checks).
 */
export type ReporterCounter = Pick<CacheStatsCounter, 'hit' | 'miss'> &
  Partial<Pick<CacheStatsCounter, 'stale' | 'leaseWait' | 'refresh'>>;

/** What {@link CacheReporter} reads of a request. */
type Reported = Pick<HttpExchange, 'raw' | 'routeTemplate' | 'setHeader'>;

/**
 * Everything the cache interceptor tells about the requests it handles: the
 * `X-Cache-Status` header and its record for logs (`cacheStatusOf`), one `cache.lookup`
 * event per cacheable request with its final status, `cache.corrupt` events, the hit and
 * miss counts behind the statistics, and warnings logged once per cause.
 *
 * For the distributed cache it counts (in the statistics, flushed to Redis with hits and
 * misses) and emits (`cache.hit`, `cache.stale`, `cache.lease.wait`, `cache.refresh`, for
 * the per-instance metrics) where a hit was answered from, stale serves, lease waits and
 * background refreshes. Those tallies sit beside hits and misses, not instead of them: a
 * lookup answered with a stale entry is reported with `stale` and also, as any lookup,
 * with `hit` or `miss`.
 */
export class CacheReporter {
  private readonly warned = new Set<string>();

  constructor(
    private readonly counter: ReporterCounter,
    private readonly events: ShieldEvents,
    private readonly logger: Pick<LoggerService, 'warn'> = new Logger('ResponseCache'),
  ) {}

  /** Counts one lookup answered from the cache: from the in-process L1, or from Redis (the default). */
  hit(tier: CacheHitTier = 'l2'): void {
    this.counter.hit(tier);
    this.events.emit('cache.hit', { tier });
  }

  /**
   * Counts one stale entry served: `revalidate` within its stale-while-revalidate window
   * (a background refresh follows), `error` because recomputing it failed (stale-if-error).
   */
  stale(reason: CacheStaleReason): void {
    this.counter.stale?.(reason);
    this.events.emit('cache.stale', { reason });
  }

  /**
   * Counts one miss that found another instance's lease on its key and waited, once the
   * wait ends: the entry arrived (`filled`), the follower timeout passed and it ran the
   * handler itself (`timeout`), or the lease became free and it led (`leader`).
   */
  leaseWait(outcome: CacheLeaseWaitOutcome): void {
    this.counter.leaseWait?.(outcome);
    this.events.emit('cache.lease.wait', { outcome });
  }

  /** Counts one background refresh (after a stale-while-revalidate serve) once it finished: `stored` or `failed`. */
  refresh(outcome: CacheRefreshOutcome): void {
    this.counter.refresh?.(outcome);
    this.events.emit('cache.refresh', { outcome });
  }

  /** Counts one lookup that ran the handler and may store its response. */
  miss(): void {
    this.counter.miss();
  }

  /** Sets `X-Cache-Status`, records it for logs and emits the request's one `cache.lookup` event. */
  status(exchange: Reported, status: CacheStatus): void {
    exchange.setHeader('X-Cache-Status', status);
    this.recorded(exchange, status);
  }

  /** Records the final status for logs and emits the `cache.lookup` event, where the header is already written. */
  recorded(exchange: Pick<Reported, 'raw' | 'routeTemplate'>, status: CacheStatus): void {
    recordCacheStatus(exchange.raw, status);
    this.lookedUp(exchange, status);
  }

  /** One `cache.lookup` event per cacheable request, with its final status. */
  lookedUp(exchange: Pick<Reported, 'routeTemplate'>, status: CacheStatus): void {
    this.events.emit('cache.lookup', { route: exchange.routeTemplate ?? 'unknown', status });
  }

  /** A stored entry of `routeId` that could not be decoded: logged once per route, counted (`cache.corrupt`) each time. */
  corrupt(exchange: Pick<Reported, 'routeTemplate'>, routeId: string, error: Error): void {
    this.warnOnce(
      `${routeId}:corrupt`,
      `corrupt entry of ${routeId} deleted and recomputed (${error.message}); further ones are counted, not logged`,
    );
    this.events.emit('cache.corrupt', { route: exchange.routeTemplate ?? 'unknown' });
  }

  /** Logs `message` the first time `key` is seen. */
  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(message);
  }

  /** Logs `message` every time. */
  warn(message: string): void {
    this.logger.warn(message);
  }
}
