import { Inject, Injectable } from '@nestjs/common';
import { BufferedFlush } from '../../core/buffered-flush.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { CACHE_CONNECTION } from './cache.constants.js';
import { ResponseCacheStore } from '../store/response-cache.store.js';

/** How often counts are flushed to Redis, in ms. */
export const STATS_FLUSH_INTERVAL_MS = 1000;

/** The counts one instance has not added to Redis yet. */
interface Counts {
  hits: number;
  misses: number;
}

/**
 * Hit and miss counts, kept in process and added to Redis once per second (and on
 * shutdown), so statistics cover every instance without a Redis call per request.
 * Counts that cannot be flushed (Redis down) are kept for the next try.
 */
@Injectable()
export class CacheStatsCounter {
  private readonly counts: BufferedFlush<Counts>;

  /** @internal Instantiated by Nest as part of `ResponseCacheModule`. */
  constructor(store: ResponseCacheStore, @Inject(CACHE_CONNECTION) connection: RedisConnection) {
    this.counts = new BufferedFlush<Counts>({
      intervalMs: STATS_FLUSH_INTERVAL_MS,
      empty: () => ({ hits: 0, misses: 0 }),
      isEmpty: (counts) => counts.hits === 0 && counts.misses === 0,
      // One command; a rejection (Redis down) puts the counts back, silently: the
      // connection reports the outage.
      send: (counts) => store.addCounts(counts.hits, counts.misses),
      restore: (unsent, current) => ({ hits: unsent.hits + current.hits, misses: unsent.misses + current.misses }),
    });
    // The last counts reach Redis before the connection closes on shutdown.
    connection.beforeClose(() => this.counts.close().then(() => undefined));
  }

  /** Counts one lookup answered from the cache. */
  hit(): void {
    this.counts.current.hits += 1;
  }

  /** Counts one lookup that ran the handler. */
  miss(): void {
    this.counts.current.misses += 1;
  }

  /** Adds every count so far to Redis (after a flush in flight, if any); resolves when done, never rejects. */
  flush(): Promise<void> {
    return this.counts.drain();
  }
}
