import { lifetimesOf, storedLifetimeMs } from '../engine/freshness.js';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { CacheL1 } from './cache-l1.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { IntervalLog } from '../../core/interval-log.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import { CACHE_CONNECTION, CACHE_OPTIONS } from './cache.constants.js';
import { type CachedResponse, encodeEntry } from '../engine/entry-codec.js';
import { type CacheEntryRef, ResponseCacheStore } from '../store/response-cache.store.js';

/**
 * Stores fresh responses after they were sent: compression and the Redis writes never
 * delay the response. A write that Redis refused (e.g. OOM) is logged at most once per
 * 10 s; one that found Redis unavailable is not (the connection logs the outage); neither
 * trips the circuit breaker.
 */
@Injectable()
export class ResponseCacheWriter {
  private readonly logger = new Logger('ResponseCache');
  private readonly pending = new Set<Promise<unknown>>();
  /** Refused writes are logged at most once per 10 s. */
  private readonly failures = new IntervalLog(10_000);

  /** @internal Instantiated by Nest as part of `ResponseCacheModule`. */
  constructor(
    @Inject(CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
    private readonly store: ResponseCacheStore,
    private readonly events: ShieldEvents,
    @Inject(CACHE_CONNECTION) connection: RedisConnection,
    @Optional() private readonly l1?: CacheL1,
  ) {
    // Writes in flight finish before the connection closes on shutdown.
    connection.beforeClose(() => this.flush());
  }

  /**
   * Encodes and stores one response in the background; returns at once, with a promise
   * that resolves (never rejects) when the write is done (true: stored) or failed.
   * Redis keeps the entry for its fresh time plus its longest stale window.
   *
   * @param ttlMs How long the entry is fresh, in ms (its `freshMs`, if it does not say).
   * @param generation The invalidation generation read when the miss began; the entry is dropped if it changed.
   */
  write(ref: CacheEntryRef, response: CachedResponse, ttlMs: number, generation: string): Promise<boolean> {
    // Before the write: an invalidation arriving meanwhile keeps the entry out of L1.
    const l1Generation = this.l1?.cache.generation ?? 0;
    const entry: CachedResponse = { ...response, freshMs: response.freshMs ?? ttlMs };
    const lifetimeMs = storedLifetimeMs(entry.freshMs!, entry.staleWhileRevalidateMs ?? 0, entry.staleIfErrorMs ?? 0);
    const job = encodeEntry(entry, this.options.compressAboveBytes)
      .then(async (value) => {
        if (!(await this.store.write(ref, value, lifetimeMs, generation))) return false;
        const perUser = ref.userId !== undefined;
        const { freshUntil, expiresAt } = lifetimesOf(entry, ttlMs, !perUser);
        this.l1?.cache.put(ref.digest, entry, {
          generation: l1Generation,
          expiresAt,
          freshUntil,
          perUser,
          bytes: l1Bytes(entry),
        });
        this.events.emit('cache.store', { route: ref.route.template, bytes: value.length, perUser });
        return true;
      })
      .catch((error: unknown) => {
        // An outage is the connection's to report (one line when it starts, one when it ends).
        if (error instanceof RedisUnavailableError) return false;
        if (this.failures.due()) {
          this.logger.warn(`cache write failed: ${error instanceof Error ? error.message : String(error)}`);
        }
        return false;
      })
      .finally(() => this.pending.delete(job));
    this.pending.add(job);
    return job;
  }

  /**
   * Counts other background cache work (a lease given up after a miss) as pending:
   * {@link flush} and shutdown wait for it too. `job` must not reject.
   */
  track(job: Promise<unknown>): void {
    const tracked = job.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resolves when every write started so far (and tracked work) has finished (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}

/** The memory an entry kept decoded in L1 takes: its body plus its headers. */
export function l1Bytes(entry: CachedResponse): number {
  let bytes = entry.body.length + entry.etag.length;
  for (const [name, value] of Object.entries(entry.headers)) bytes += name.length + value.length;
  return bytes;
}
