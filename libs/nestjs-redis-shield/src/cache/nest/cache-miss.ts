import type { CallHandler } from '@nestjs/common';
import onHeaders from 'on-headers';
import { HttpException } from '@nestjs/common';
import { catchError, finalize, mergeMap, type Observable, takeLast, throwError } from 'rxjs';
import { type HttpExchange, recordCacheStatus, writtenHeader } from '../../core/http/http-facade.js';
import { whenResponseOver } from '../../core/http/response-over.js';
import type { SingleFlight } from '../../core/single-flight.js';
import { type Lookup, userIdOf } from '../engine/cache-lookup.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { etagOf } from '../engine/etag.js';
import { decideStorage, type StorageDecision } from '../engine/storability.js';
import { VariantRecounts } from '../engine/variant-recount.js';
import type { ResponseCacheStore } from '../store/response-cache.store.js';
import { MAX_LEARNED_VARY } from './cache-route.js';
import type { CacheLeases } from './cache-leases.js';
import type { CacheReporter } from './cache-reporter.js';
import { serveHit } from './cache-hit.js';
import { capture, type CapturedBody, markPrivate } from './response-capture.js';
import type { ResponseCacheWriter } from './response-cache.writer.js';

/** What a miss reads of the store while the handler runs. */
export type MissStore = Pick<ResponseCacheStore, 'generation' | 'liveVariants' | 'pruneVariants'>;

/** Settles this request's claim on its digest: followers get `entry`; the digest stays claimed until `stored` settles. */
type Finish = (entry: CachedResponse | undefined, stored?: Promise<boolean>) => void;

/**
 * A request the cache could not answer: runs the handler and stores its response if the
 * response, as finally written, allows it (see `decideStorage`), in the background once it
 * was sent. Only the handler's last value counts, and only once it completed without
 * error. The first miss of a digest on this instance leads it ({@link SingleFlight}):
 * requests that miss meanwhile wait for its response instead of running the handler, and
 * it keeps the digest until its entry is in Redis (or known not to be), or a request
 * arriving in between would read a miss and run the handler again.
 */
export class CacheMiss {
  private readonly recounts: VariantRecounts;

  constructor(
    private readonly options: Pick<ResolvedCacheOptions, 'maxVariants' | 'maxEntryBytes'>,
    /** Response headers stored with an entry. */
    private readonly storedHeaders: readonly string[],
    private readonly store: MissStore,
    private readonly writer: Pick<ResponseCacheWriter, 'write' | 'track'>,
    private readonly reporter: CacheReporter,
    private readonly flights: SingleFlight<CachedResponse | undefined>,
    /** Releases this request's cross-instance lease, if it took one (see `CacheLeases`). */
    private readonly leases?: Pick<CacheLeases, 'finish'>,
  ) {
    this.recounts = new VariantRecounts(options.maxVariants);
  }

  /** The handler's response, stored if it may be; its followers are released with it, or with nothing. */
  serve(exchange: HttpExchange, next: CallHandler, lookup: Lookup): Observable<unknown> {
    const perUser = lookup.scope.kind === 'user';
    // A HEAD is answered from the GET entry but never writes one: its body is empty.
    const write = lookup.directives.write && exchange.method === 'GET';
    // Undefined when another request leads this digest: this one runs on its own.
    const flight = this.flights.claim(lookup.digest);
    // The lease this request took with its lookup, if any: it leads on every instance.
    let token = lookup.leaseToken;
    lookup.leaseToken = undefined;
    const finish: Finish = (entry, stored) => {
      flight?.settle(entry, stored);
      const held = token;
      token = undefined; // only the first outcome counts, as for the flight
      if (held === undefined || !this.leases) return;
      const leases = this.leases;
      this.writer.track((stored ?? Promise.resolve(false)).then((done) => leases.finish(lookup.digest, held, done)));
    };
    const stale = lookup.stale;
    let settledByStale = false;
    const before = write ? this.before(lookup) : Promise.resolve(undefined);
    let decided = false;
    return next.handle().pipe(
      takeLast(1),
      mergeMap(async (data: unknown) => {
        // A 5xx answer (`@HttpCode`, or set on the response): the stale entry, if one may be served.
        if (stale && Math.max(lookup.route.status, exchange.rawResponse.statusCode) >= 500) {
          throw new StaleFallback();
        }
        const captured = capture(data);
        if (!captured) {
          decided = true;
          finish(undefined);
          this.reporter.status(exchange, 'BYPASS');
          return data;
        }
        const etag = etagOf(captured.body);
        exchange.setHeader('ETag', etag);
        exchange.setHeader('Content-Type', exchange.responseHeader('content-type') ?? captured.contentType);
        if (perUser) markPrivate(exchange);
        const [generation, variants] = (await before) ?? [];
        const admissible =
          write && generation !== undefined && (variants ?? Number.POSITIVE_INFINITY) < this.options.maxVariants;
        decided = true;
        const decide = () => this.decide(exchange, lookup, captured.body.length);
        const response = exchange.rawResponse;
        // X-Cache-Status when the headers are written: the decision as they stand then.
        onHeaders(response, () => {
          const status = admissible && decide().store ? 'MISS' : 'BYPASS';
          response.setHeader('X-Cache-Status', status);
          recordCacheStatus(exchange.raw, status);
        });
        // The store itself once the response is complete, on the headers as finally written,
        // whoever set them (an outer interceptor, a session middleware hooked on the
        // headers after us): a Set-Cookie added last is seen. Followers wait for it.
        // A response that is never completed (the client went away, perhaps while the
        // handler ran) stores nothing, and its followers run on their own at once.
        whenResponseOver(
          response,
          () => this.complete(exchange, lookup, captured, etag, admissible ? generation : undefined, decide(), finish),
          () => finish(undefined),
        );
        return exchange.textBody(captured.body);
      }),
      // stale-if-error: the handler threw (anything but a 4xx) or answered 5xx.
      catchError((error: unknown) => {
        if (!stale || (error instanceof HttpException && error.getStatus() < 500)) {
          return throwError(() => error);
        }
        decided = settledByStale = true;
        finish(undefined);
        exchange.rawResponse.statusCode = stale.status;
        return serveHit(exchange, stale, perUser, this.reporter, { stale: 'error' });
      }),
      // An error or an empty result stores nothing; followers then run their own handler.
      finalize(() => {
        if (decided || settledByStale) return;
        finish(undefined);
        this.reporter.lookedUp(exchange, 'BYPASS');
      }),
    );
  }

  /**
   * Read while the handler runs: the generation (for the stale-store check) and the
   * stored variants of the route in this scope (for the cap), recounted at the cap (see
   * {@link VariantRecounts}). Undefined when Redis could not tell: nothing is stored.
   */
  private before(lookup: Lookup): Promise<readonly [string, number] | undefined> {
    const { route, scope, deadline } = lookup;
    const userId = userIdOf(scope);
    return Promise.all([this.store.generation({ deadline }), this.store.liveVariants(route.id, userId, { deadline })])
      .then(async ([generation, count]) => {
        const recount = this.recounts.due(route.id, scope.key, count, generation);
        const variants = recount
          ? await this.store.pruneVariants(route.id, userId, this.options.maxVariants, { deadline })
          : count;
        return [generation, variants] as const;
      })
      .catch(() => undefined);
  }

  /** Whether the response as written so far may be stored (see `decideStorage`), learning its undeclared `Vary`. */
  private decide(exchange: HttpExchange, lookup: Lookup, bodyBytes: number): StorageDecision {
    const response = exchange.rawResponse;
    const { route } = lookup;
    const decision = decideStorage(
      { status: response.statusCode, header: (name) => writtenHeader(response, name), bodyBytes },
      {
        routeTtlMs: route.ttlMs!,
        routeStaleWhileRevalidateMs: route.staleWhileRevalidateMs,
        routeStaleIfErrorMs: route.staleIfErrorMs,
        respectResponseCacheControl: route.respectResponseCacheControl,
        shared: lookup.scope.kind === 'shared',
        keyedHeaders: lookup.keyedHeaders,
        maxEntryBytes: this.options.maxEntryBytes,
      },
    );
    for (const name of decision.learnVary ?? []) {
      if (route.learnedVary.size < MAX_LEARNED_VARY) route.learnedVary.add(name);
    }
    return decision;
  }

  /**
   * Once the response is complete: stores it if its final headers allow, releases the
   * followers with it (or with nothing) and counts the miss.
   *
   * @param generation The generation read when the miss began; undefined when it may not be stored anyway.
   */
  private complete(
    exchange: HttpExchange,
    lookup: Lookup,
    captured: CapturedBody,
    etag: string,
    generation: string | undefined,
    decision: StorageDecision,
    finish: Finish,
  ): void {
    const stored = generation !== undefined && decision.store;
    // Normally what the header said; BYPASS if a header set after ours forbade storing.
    this.reporter.recorded(exchange, stored ? 'MISS' : 'BYPASS');
    if (!stored) {
      finish(undefined);
      return;
    }
    const response = exchange.rawResponse;
    const headers: Record<string, string> = {};
    for (const name of this.storedHeaders) {
      const value = writtenHeader(response, name);
      if (value !== undefined) headers[name] = value;
    }
    const entry: CachedResponse = {
      status: response.statusCode,
      headers,
      body: captured.body,
      storedAt: Date.now(),
      etag,
      freshMs: decision.ttlMs,
      staleWhileRevalidateMs: decision.staleWhileRevalidateMs,
      staleIfErrorMs: decision.staleIfErrorMs,
    };
    this.reporter.miss();
    const { route } = lookup;
    const written = this.writer.write(
      {
        digest: lookup.digest,
        route: { id: route.id, template: exchange.routeTemplate ?? route.id },
        path: lookup.path,
        userId: userIdOf(lookup.scope),
        tags: route.tags,
        maxVariants: this.options.maxVariants,
      },
      entry,
      decision.ttlMs,
      generation,
    );
    finish(entry, written);
  }
}

/** A 5xx answer while a stale entry may be served instead (stale-if-error). */
class StaleFallback extends Error {}
