import { Logger, type LoggerService } from '@nestjs/common';
import type { CacheLookupStatus, ShieldEvents } from '../../core/events/shield-events.js';
import { type HttpExchange, recordCacheStatus } from '../../core/http/http-facade.js';
import type { CacheStatsCounter } from './cache-stats.counter.js';

/**
 * `X-Cache-Status` values: the {@link CacheLookupStatus} the `cache.lookup` event carries,
 * under the cache's name for it.
 */
export type CacheStatus = CacheLookupStatus;

/** What {@link CacheReporter} reads of a request. */
type Reported = Pick<HttpExchange, 'raw' | 'routeTemplate' | 'setHeader'>;

/**
 * Everything the cache interceptor tells about the requests it handles: the
 * `X-Cache-Status` header and its record for logs (`cacheStatusOf`), one `cache.lookup`
 * event per cacheable request with its final status, `cache.corrupt` events, the hit and
 * miss counts behind the statistics, and warnings logged once per cause.
 */
export class CacheReporter {
  private readonly warned = new Set<string>();

  constructor(
    private readonly counter: Pick<CacheStatsCounter, 'hit' | 'miss'>,
    private readonly events: ShieldEvents,
    private readonly logger: Pick<LoggerService, 'warn'> = new Logger('ResponseCache'),
  ) {}

  /** Counts one lookup answered from the cache (the in-process L1 or Redis). */
  hit(_tier: 'l1' | 'l2' = 'l2'): void {
    this.counter.hit();
  }

  /** Counts one stale entry served (while refreshed, or because the handler or Redis failed). */
  stale(_reason: 'revalidate' | 'error'): void {
    this.counter.hit();
  }

  /** Counts one wait for another instance's leader, by how it ended. */
  leaseWait(_outcome: 'filled' | 'timeout' | 'leader'): void {}

  /** Counts one background refresh, by how it ended. */
  refresh(_outcome: 'stored' | 'failed'): void {}

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
