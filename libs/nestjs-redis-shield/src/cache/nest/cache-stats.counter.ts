import { Inject, Injectable } from '@nestjs/common';
import { BufferedFlush } from '../../core/buffered-flush.js';
import type {
  CacheHitTier,
  CacheLeaseWaitOutcome,
  CacheRefreshOutcome,
  CacheStaleReason,
} from '../../core/events/shield-events.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { CACHE_CONNECTION } from './cache.constants.js';
import { type CacheCountDetail, ResponseCacheStore } from '../store/response-cache.store.js';

/** How often counts are flushed to Redis, in ms. */
export const STATS_FLUSH_INTERVAL_MS = 1000;

/** The counts one instance has not added to Redis yet: every hit (L1 ones included), misses, the tallies. */
interface Counts extends CacheCountDetail {
  hits: number;
  misses: number;
}

const COUNT_KEYS: readonly (keyof Counts)[] = [
  'hits',
  'misses',
  'l1Hits',
  'staleRevalidate',
  'staleError',
  'leaseFilled',
  'leaseTimeout',
  'leaseLeader',
  'refreshStored',
  'refreshFailed',
];

const STALE_KEYS: Readonly<Record<CacheStaleReason, keyof CacheCountDetail>> = {
  revalidate: 'staleRevalidate',
  error: 'staleError',
};
const LEASE_KEYS: Readonly<Record<CacheLeaseWaitOutcome, keyof CacheCountDetail>> = {
  filled: 'leaseFilled',
  timeout: 'leaseTimeout',
  leader: 'leaseLeader',
};
const REFRESH_KEYS: Readonly<Record<CacheRefreshOutcome, keyof CacheCountDetail>> = {
  stored: 'refreshStored',
  failed: 'refreshFailed',
};

function emptyCounts(): Counts {
  return {
    hits: 0,
    misses: 0,
    l1Hits: 0,
    staleRevalidate: 0,
    staleError: 0,
    leaseFilled: 0,
    leaseTimeout: 0,
    leaseLeader: 0,
    refreshStored: 0,
    refreshFailed: 0,
  };
}

/**
 * Hit and miss counts, and the distributed cache's tallies (stale serves, lease waits,
 * background refreshes), kept in process and added to Redis once per second (and on
 * shutdown) in one transaction, so statistics cover every instance without a Redis call per
 * request. Counts that cannot be flushed (Redis down) are kept for the next try.
 */
@Injectable()
export class CacheStatsCounter {
  private readonly counts: BufferedFlush<Counts>;

  /** @internal Instantiated by Nest as part of `ResponseCacheModule`. */
  constructor(store: ResponseCacheStore, @Inject(CACHE_CONNECTION) connection: RedisConnection) {
    this.counts = new BufferedFlush<Counts>({
      intervalMs: STATS_FLUSH_INTERVAL_MS,
      empty: emptyCounts,
      isEmpty: (counts) => COUNT_KEYS.every((key) => counts[key] === 0),
      // One command; a rejection (Redis down) puts the counts back, silently: the
      // connection reports the outage.
      send: ({ hits, misses, ...detail }) => store.addCounts(hits, misses, detail),
      restore: (unsent, current) => {
        const merged = emptyCounts();
        for (const key of COUNT_KEYS) merged[key] = unsent[key] + current[key];
        return merged;
      },
    });
    // The last counts reach Redis before the connection closes on shutdown.
    connection.beforeClose(() => this.counts.close().then(() => undefined));
  }

  /** Counts one lookup answered from the cache: from the in-process L1, or from Redis (default). */
  hit(tier: CacheHitTier = 'l2'): void {
    const counts = this.counts.current;
    counts.hits += 1;
    if (tier === 'l1') counts.l1Hits += 1;
  }

  /** Counts one lookup that ran the handler. */
  miss(): void {
    this.counts.current.misses += 1;
  }

  /** Counts one stale entry served: in its stale-while-revalidate window, or stale-if-error. */
  stale(reason: CacheStaleReason): void {
    this.counts.current[STALE_KEYS[reason]] += 1;
  }

  /** Counts one miss that waited on another instance's lease, by how the wait ended. */
  leaseWait(outcome: CacheLeaseWaitOutcome): void {
    this.counts.current[LEASE_KEYS[outcome]] += 1;
  }

  /** Counts one finished background refresh, by outcome. */
  refresh(outcome: CacheRefreshOutcome): void {
    this.counts.current[REFRESH_KEYS[outcome]] += 1;
  }

  /** Adds every count so far to Redis (after a flush in flight, if any); resolves when done, never rejects. */
  flush(): Promise<void> {
    return this.counts.drain();
  }
}
