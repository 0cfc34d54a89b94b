import type { CallHandler } from '@nestjs/common';
import { lastValueFrom, takeLast } from 'rxjs';
import type { HttpExchange } from '../../core/http/http-facade.js';
import { whenResponseOver } from '../../core/http/response-over.js';
import { type Lookup, userIdOf } from '../engine/cache-lookup.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { etagOf } from '../engine/etag.js';
import type { ResponseCacheStore } from '../store/response-cache.store.js';
import type { CacheLeases } from './cache-leases.js';
import type { CacheReporter } from './cache-reporter.js';
import { capture } from './response-capture.js';
import type { ResponseCacheWriter } from './response-cache.writer.js';

/**
 * Refreshes stale entries in the background (stale-while-revalidate): once the stale
 * response was sent, the request that served it runs the handler again, with its own
 * identity and scope (the same request object, so the same user and the same key), and
 * stores what it returns under the same digest, with the stale entry's status and
 * headers. At most one refresh per entry runs across all instances: it takes the entry's
 * lease (`SET NX`), and a request finding the lease held (or a refresh of the digest
 * already running here) does not refresh. Followers waiting on the lease and the other
 * instances' L1 copies hear of the new entry through `cache.filled`.
 */
export class CacheRefresh {
  private readonly running = new Set<string>();

  constructor(
    private readonly options: Pick<ResolvedCacheOptions, 'maxEntryBytes'>,
    private readonly store: Pick<ResponseCacheStore, 'takeLease' | 'generation'>,
    private readonly writer: Pick<ResponseCacheWriter, 'write' | 'track'>,
    private readonly leases: Pick<CacheLeases, 'request' | 'finish'>,
    private readonly reporter: Pick<CacheReporter, 'refresh'>,
    private readonly commandTimeoutMs: number,
  ) {}

  /** Whether a refresh of `digest` is scheduled or running on this instance (another would do nothing). */
  refreshing(digest: string): boolean {
    return this.running.has(digest);
  }

  /** Schedules the refresh of `stale` for when `exchange`'s (stale) response has been sent. */
  schedule(exchange: HttpExchange, next: CallHandler, lookup: Lookup, stale: CachedResponse): void {
    const { digest } = lookup;
    if (this.running.has(digest)) return;
    this.running.add(digest);
    whenResponseOver(
      exchange.rawResponse,
      () => this.writer.track(this.refresh(exchange, next, lookup, stale).finally(() => this.running.delete(digest))),
      // Never sent (the client went away, perhaps already): nothing to refresh from.
      () => this.running.delete(digest),
    );
  }

  private async refresh(exchange: HttpExchange, next: CallHandler, lookup: Lookup, stale: CachedResponse) {
    const lease = this.leases.request();
    const run = { timeoutMs: this.commandTimeoutMs };
    let generation: string;
    try {
      if (!(await this.store.takeLease(lookup.digest, lease, run))) return; // another instance refreshes it
      generation = await this.store.generation(run);
    } catch {
      return; // Redis cannot tell: the stale entry stays until its window ends
    }
    let stored = false;
    try {
      const data: unknown = await lastValueFrom(next.handle().pipe(takeLast(1)), { defaultValue: undefined });
      const captured = capture(data);
      if (captured && captured.body.length <= this.options.maxEntryBytes) {
        const { route } = lookup;
        const entry: CachedResponse = {
          status: stale.status,
          headers: { ...stale.headers, 'content-type': stale.headers['content-type'] ?? captured.contentType },
          body: captured.body,
          storedAt: Date.now(),
          etag: etagOf(captured.body),
          // The lifetimes the stale entry was given (the route's, or its response's own).
          freshMs: stale.freshMs ?? route.ttlMs,
          staleWhileRevalidateMs: stale.staleWhileRevalidateMs ?? route.staleWhileRevalidateMs,
          staleIfErrorMs: stale.staleIfErrorMs ?? route.staleIfErrorMs,
        };
        stored = await this.writer.write(
          {
            digest: lookup.digest,
            route: { id: route.id, template: exchange.routeTemplate ?? route.id },
            path: lookup.path,
            userId: userIdOf(lookup.scope),
            tags: route.tags,
          },
          entry,
          entry.freshMs!,
          generation,
        );
      }
    } catch {
      // The handler failed: the stale entry stays until its window ends.
    }
    this.reporter.refresh(stored ? 'stored' : 'failed');
    await this.leases.finish(lookup.digest, lease.token, stored);
  }
}
