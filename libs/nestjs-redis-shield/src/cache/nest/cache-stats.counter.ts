import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { CACHE_CONNECTION } from './cache.constants.js';
import { ResponseCacheStore } from '../store/response-cache.store.js';

/** How often counts are flushed to Redis, in ms. */
export const STATS_FLUSH_INTERVAL_MS = 1000;

/**
 * Hit and miss counts, kept in process and added to Redis once per second (and on
 * shutdown), so statistics cover every instance without a Redis call per request.
 * Counts that cannot be flushed (Redis down) are kept for the next try.
 */
@Injectable()
export class CacheStatsCounter {
  private readonly logger = new Logger('ResponseCache');
  private hits = 0;
  private misses = 0;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  /** @internal Instantiated by Nest as part of `ResponseCacheModule`. */
  constructor(
    private readonly store: ResponseCacheStore,
    @Inject(CACHE_CONNECTION) connection: RedisConnection,
  ) {
    this.timer = setInterval(() => void this.flush(), STATS_FLUSH_INTERVAL_MS);
    this.timer.unref();
    // The last counts reach Redis before the connection closes on shutdown.
    connection.beforeClose(() => this.close());
  }

  /** Counts one lookup answered from the cache. */
  hit(): void {
    this.hits += 1;
  }

  /** Counts one lookup that ran the handler. */
  miss(): void {
    this.misses += 1;
  }

  /** Adds the counts so far to Redis (one command); resolves when done. */
  async flush(): Promise<void> {
    await this.flushing;
    const hits = this.hits;
    const misses = this.misses;
    if (hits === 0 && misses === 0) return;
    this.hits = 0;
    this.misses = 0;
    this.flushing = this.store.addCounts(hits, misses).catch(() => {
      this.hits += hits;
      this.misses += misses;
    });
    await this.flushing;
    this.flushing = undefined;
  }

  private async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch((error: unknown) => this.logger.warn(`stats not flushed: ${String(error)}`));
  }
}
