import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
  Optional,
} from '@nestjs/common';
import { ApplicationConfig, Reflector } from '@nestjs/core';
import { from, mergeMap, type Observable, throwError } from 'rxjs';
import { RequestPrefetch } from '../../core/events/request-prefetch.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { type HttpExchange, httpExchange } from '../../core/http/http-facade.js';
import { whenResponseOver } from '../../core/http/response-over.js';
import { SingleFlight } from '../../core/single-flight.js';
import { atEndOfTurn } from '../../core/end-of-turn.js';
import { BoundedMap } from '../../core/lru.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { defaultUserId } from '../../core/user-id.js';
import { type Lookup, lookupOf } from '../engine/cache-lookup.js';
import { bypassWarning, type CacheScope, type KeyedScope, resolveScope } from '../engine/cache-scope.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import { type CachedResponse, CorruptEntryError, type DecodeLimits, decodeEntry } from '../engine/entry-codec.js';
import { DecodedEntries } from '../engine/decoded-entries.js';
import { ResponseCacheStore } from '../store/response-cache.store.js';
import { apiVersionOf } from './api-version.js';
import { type HitSource, serveHit, setHitHeaders } from './cache-hit.js';
import { CacheFastPath, FAST_SENT } from './cache-fast-path.js';
import { CacheMiss } from './cache-miss.js';
import { CacheReporter } from './cache-reporter.js';
import { type CacheRoute, resolveCacheRoute } from './cache-route.js';
import { CacheStatsCounter } from './cache-stats.counter.js';
import { CacheL1 } from './cache-l1.js';
import { freshnessOf, lifetimesOf } from '../engine/freshness.js';
import type { Deadline } from '../../core/deadline.js';
import type { RunOptions } from '../../redis/store/redis.connection.js';
import type { LookupReply } from '../store/response-cache.store.js';
import { CacheLeases } from './cache-leases.js';
import { CacheRefresh } from './cache-refresh.js';
import { CACHE_CONNECTION, CACHE_OPTIONS } from './cache.constants.js';
import { l1Bytes, ResponseCacheWriter } from './response-cache.writer.js';
import { STORED_HEADERS } from './response-capture.js';
import { WriteInvalidation } from './write-invalidation.js';

export type { CacheStatus } from './cache-reporter.js';

/** How a stale copy this instance refreshes already is served from its L1 (see `CacheInterceptor.inL1`). */
const STALE_FROM_L1: HitSource = { stale: 'revalidate', tier: 'l1' };

/** The most digests {@link CacheInterceptor} remembers as found stored (a digest and a map slot each). */
export const FOUND_DIGESTS_MAX = 10_000;

/**
 * Caches GET responses of routes marked `@CacheTtl` as a correct shared cache: per user
 * unless the route is shared (the user as the handler sees it, after every guard), keyed
 * by everything that shapes the response (host, route input, query, scope, varied
 * headers), stored only when the final response as written allows it (RFC 9111), with a
 * strong ETag, `Age`, 304s, HEAD from the GET entry, stampede protection on each instance,
 * and `BYPASS` (never an error) when Redis fails. Runs after the rate-limit guard, so a
 * hit still counts against the limit and carries the current headers.
 */
@Injectable()
export class CacheInterceptor implements NestInterceptor {
  private readonly routes = new WeakMap<object, CacheRoute>();
  /** Misses being computed on this instance, by digest: followers wait for the leader. */
  private readonly flights = new SingleFlight<CachedResponse | undefined>();
  /** What a stored entry may hold; an entry beyond it is corrupt (see `decodeEntry`). */
  private readonly decodeLimits: DecodeLimits;
  /**
   * The shared entries decoded last, with the value each came from: a Redis hit of a hot
   * entry (no L1, or one the L1 holds no fresh copy of, as when it is served stale) skips
   * decoding when its value is unchanged (see `DecodedEntries`). Per-user entries are never
   * kept in process unless the L1 keeps them.
   */
  private readonly decoded = new DecodedEntries();
  /**
   * Digests this instance last found stored in Redis (the most recent
   * {@link FOUND_DIGESTS_MAX}): most requests for them are hits, read with a plain `GET`
   * rather than the lookup script (see {@link read}). A `GET` that finds one missing
   * forgets it.
   */
  private readonly found = new BoundedMap<string, true>(FOUND_DIGESTS_MAX);
  private readonly reporter: CacheReporter;
  private readonly misses: CacheMiss;
  private readonly invalidation: WriteInvalidation;
  private readonly refresher: CacheRefresh | undefined;

  /** @internal Instantiated by Nest; register the interceptor through `ResponseCacheModule`. */
  constructor(
    private readonly reflector: Reflector,
    @Inject(CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
    private readonly store: ResponseCacheStore,
    @Inject(CACHE_CONNECTION) private readonly connection: RedisConnection,
    private readonly writer: ResponseCacheWriter,
    counter: CacheStatsCounter,
    events: ShieldEvents,
    @Optional() private readonly appConfig?: ApplicationConfig,
    @Optional() prefetch?: RequestPrefetch,
    @Optional() private readonly l1?: CacheL1,
    @Optional() private readonly leases?: CacheLeases,
    @Optional() private readonly fastPath?: CacheFastPath,
  ) {
    prefetch?.register((context) => this.prefetch(context));
    fastPath?.serveWith(this, (exchange, route, request) => this.fastAnswer(exchange, route, request));
    const storedHeaders = [...new Set([...STORED_HEADERS, ...options.storeHeaders])];
    this.decodeLimits = { maxBodyBytes: options.maxEntryBytes, headerNames: new Set(storedHeaders) };
    this.reporter = new CacheReporter(counter, events);
    this.misses = new CacheMiss(options, storedHeaders, store, writer, this.reporter, this.flights, leases);
    this.refresher =
      leases && new CacheRefresh(options, store, writer, leases, this.reporter, this.connection.commandTimeoutMs);
    this.invalidation = new WriteInvalidation(reflector, store, (message) => this.reporter.warn(message));
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const exchange = httpExchange(context);
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') {
      return this.invalidation.intercept(context, exchange, next);
    }
    const route = this.routeOf(context);
    this.fastPath?.learn(exchange, context, route);
    if (route.ttlMs === undefined) return next.handle();
    const apiVersion = this.apiVersion(context, exchange);
    // An L1 hit is answered here, synchronously: no promise, no Redis.
    const kept = this.l1Entry(exchange, route, apiVersion);
    if (kept) {
      try {
        return serveHit(exchange, kept.entry, kept.perUser, this.reporter, kept.source);
      } catch (error) {
        return throwError(() => error); // a 304
      }
    }
    return from(this.serve(exchange, route, next, apiVersion)).pipe(mergeMap((result) => result));
  }

  /** What this instance's L1 answers the request with, if anything (see {@link inL1}). */
  private l1Entry(
    exchange: HttpExchange,
    route: CacheRoute,
    apiVersion: string | undefined,
  ): { entry: CachedResponse; perUser: boolean; source: HitSource } | undefined {
    const l1 = this.l1?.cache;
    if (!l1?.enabled || route.bypassReason || !this.options.enabled || exchange.hasBody) return undefined;
    const scope = this.scopeOf(exchange, route);
    if (scope.kind === 'bypass') return undefined;
    const lookup = this.lookupOf(exchange, route, scope, apiVersion);
    if (!lookup.directives.read) return undefined;
    const perUser = scope.kind === 'user';
    const fresh = l1.get(lookup.digest);
    if (fresh) return { entry: fresh, perUser, source: 'l1' };
    const stale = this.staleRefreshedHere(lookup.digest, route.ttlMs ?? 0, perUser);
    return stale && { entry: stale, perUser, source: STALE_FROM_L1 };
  }

  /**
   * Whether this instance's L1 answers `digest` without Redis: with a fresh copy, or with a
   * copy within its stale-while-revalidate window that this instance refreshes already. A
   * read from Redis would find that same entry (a newer one, stored by the refresh of
   * another instance, evicts the copy through the bus, as an invalidation does) and
   * schedule nothing more, so it would only cost a round trip.
   */
  private inL1(digest: string, routeTtlMs: number, perUser: boolean): boolean {
    return !!(this.l1?.cache.get(digest) ?? this.staleRefreshedHere(digest, routeTtlMs, perUser));
  }

  /** The L1's copy of `digest` when it is within its stale-while-revalidate window and this instance refreshes it. */
  private staleRefreshedHere(digest: string, routeTtlMs: number, perUser: boolean): CachedResponse | undefined {
    if (!this.refresher?.refreshing(digest)) return undefined;
    const entry = this.l1?.cache.getStale(digest);
    if (!entry) return undefined;
    return freshnessOf(entry, Date.now(), routeTtlMs, !perUser) === 'stale-while-revalidate' ? entry : undefined;
  }

  /**
   * The answer to a request on a route the fast path serves (see `CacheFastPath`): for a
   * plain GET, the body of a fresh entry from L1 or, else, from Redis (or of a Redis entry
   * within its stale-while-revalidate window that this instance is already refreshing),
   * with its headers set; undefined (now or once Redis answered) otherwise, and Nest runs
   * the route as usual, reusing the Redis read started here (a 304, HEAD, a miss, any
   * other stale entry, Redis down are all answered there).
   */
  private fastAnswer(exchange: HttpExchange, route: CacheRoute, request: unknown): unknown {
    if (exchange.method !== 'GET' || exchange.header('if-none-match') !== undefined) return undefined;
    if (route.bypassReason || !this.options.enabled || exchange.hasBody) return undefined;
    const scope = this.scopeOf(exchange, route);
    if (scope.kind === 'bypass') return undefined;
    const apiVersion = apiVersionOf(this.appConfig?.getVersioning(), exchange, () => request);
    const lookup = this.lookupOf(exchange, route, scope, apiVersion);
    if (!lookup.directives.read) return undefined;
    const perUser = scope.kind === 'user';
    const kept = this.l1?.cache.get(lookup.digest);
    // Written with the turn's other writes, as an answer from Redis is (see atEndOfTurn).
    if (kept) return atEndOfTurn(() => this.fastBody(exchange, kept, perUser, 'l1'));
    const stale = this.staleRefreshedHere(lookup.digest, route.ttlMs ?? 0, perUser);
    if (stale) return atEndOfTurn(() => this.fastBody(exchange, stale, perUser, STALE_FROM_L1));
    // The read the rate-limit guard's prefetch started, else the one the interceptor would
    // start; the interceptor takes it over if this is no fresh hit.
    if (!lookup.read) {
      lookup.l1Generation = this.l1?.cache.generation;
      lookup.read = this.read(exchange, lookup, { deadline: lookup.deadline });
    }
    const read = lookup.read;
    return read.then(
      async ({ entry: stored }) => {
        if (!stored) return undefined;
        const entry = await this.decode(stored, exchange, route.id, lookup.digest, lookup.deadline, perUser);
        // Corrupt (already reported and deleted): the interceptor must not see it again.
        if (!entry) lookup.read = read.then((reply) => ({ ...reply, entry: null }));
        const ttlMs = route.ttlMs ?? 0;
        if (!entry) return undefined;
        const freshness = freshnessOf(entry, Date.now(), ttlMs, !perUser);
        if (freshness === 'fresh') {
          this.keep(lookup, entry, ttlMs, perUser, lookup.l1Generation);
          return this.fastBody(exchange, entry, perUser, 'l2');
        }
        // Stale while this instance already refreshes it: the interceptor would serve it as
        // is and schedule nothing, so that answer needs no pipeline either. Otherwise the
        // interceptor serves it and schedules the refresh.
        if (freshness === 'stale-while-revalidate' && this.refresher?.refreshing(lookup.digest)) {
          this.keep(lookup, entry, ttlMs, perUser, lookup.l1Generation);
          return this.fastBody(exchange, entry, perUser, { stale: 'revalidate' });
        }
        return undefined;
      },
      () => undefined,
    );
  }

  /**
   * A fast hit: its headers set, then the response ended through the facade where it can
   * ({@link FAST_SENT}), else the body for the adapter's `reply`.
   */
  private fastBody(exchange: HttpExchange, entry: CachedResponse, perUser: boolean, source: HitSource): unknown {
    setHitHeaders(exchange, entry, perUser, this.reporter, source);
    return exchange.endWith(200, entry.body) ? FAST_SENT : exchange.textBody(entry.body);
  }

  /** Puts an entry just read from Redis in L1 (unless an invalidation arrived since `l1Generation`). */
  private keep(
    lookup: Lookup,
    entry: CachedResponse,
    ttlMs: number,
    perUser: boolean,
    l1Generation: number | undefined,
  ): void {
    const l1 = this.l1?.cache;
    // Already kept (a stale entry served again): putting it anew changes nothing.
    if (!l1?.enabled || l1Generation === undefined || l1.holds(lookup.digest, entry)) return;
    const { freshUntil, expiresAt } = lifetimesOf(entry, ttlMs, !perUser);
    l1.put(lookup.digest, entry, { generation: l1Generation, expiresAt, freshUntil, perUser, bytes: l1Bytes(entry) });
  }

  /**
   * Starts the cache read of a request before the handler chain reaches the interceptor:
   * the rate-limit guard calls it right before its own script, so a limited cache hit
   * costs one round trip of latency, not two. Does nothing for requests that will not
   * read (not cacheable, caching off, directives, no cacheable scope). The read is
   * speculative: guards that run later may still authenticate the request, so the
   * interceptor uses it only if the scope it decides then is the same.
   */
  prefetch(context: ExecutionContext): void {
    if (context.getType() !== 'http') return;
    const exchange = httpExchange(context);
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') return;
    const route = this.routeOf(context);
    if (route.ttlMs === undefined || route.bypassReason || !this.options.enabled || exchange.hasBody) return;
    const scope = this.scopeOf(exchange, route);
    if (scope.kind === 'bypass') return;
    const lookup = this.lookupOf(exchange, route, scope, this.apiVersion(context, exchange));
    if (!lookup.directives.read) return;
    // Kept in process: nothing to read (serve asks the L1 again).
    if (this.inL1(lookup.digest, route.ttlMs ?? 0, scope.kind === 'user')) return;
    lookup.l1Generation = this.l1?.cache.generation;
    // The guard's script right before it already tells the breaker about a stalled Redis:
    // the same stall must not count twice per request.
    lookup.read = this.read(exchange, lookup, { deadline: lookup.deadline, tripsBreaker: false });
    lookup.read.catch(() => undefined); // a 429 never awaits it
  }

  /**
   * The entry's one read. For a digest this instance found stored the last time it looked
   * (see {@link found}), a plain `GET`: a hit costs Redis no script. Otherwise, and when
   * that `GET` finds nothing, the lookup script, which also takes the lease on computing
   * the missing entry for every instance (GETs that may store only): so every miss still
   * asks for the lease with the read that found the entry missing, at the cost of a second
   * round trip for the first miss after a run of hits. A lease this request takes is given
   * up when its response ends, unless its miss took it over.
   */
  private read(exchange: HttpExchange, lookup: Lookup, options: RunOptions): Promise<LookupReply> {
    const leases = lookup.directives.write && exchange.method === 'GET' ? this.leases : undefined;
    const { digest } = lookup;
    if (!leases || this.found.has(digest)) {
      return this.store.read(digest, options).then((entry) => {
        if (entry) return { entry, lease: 'none' } as const;
        this.found.delete(digest);
        return leases ? this.leasedRead(exchange, lookup, leases, options) : { entry: null, lease: 'none' };
      });
    }
    return this.leasedRead(exchange, lookup, leases, options);
  }

  /** The lookup script with a lease (see {@link read}). */
  private leasedRead(
    exchange: HttpExchange,
    lookup: Lookup,
    leases: CacheLeases,
    options: RunOptions,
  ): Promise<LookupReply> {
    const lease = leases.request();
    const reply = this.store.lookup(lookup.digest, lease, options);
    reply.then(
      ({ entry, lease: outcome }) => {
        if (entry) this.found.set(lookup.digest, true);
        else if (outcome === 'taken') this.holdLease(exchange, lookup, lease.token);
      },
      () => undefined,
    );
    return reply;
  }

  /** Records the lease this request holds; released when the response ends unless a miss took it over. */
  private holdLease(exchange: HttpExchange, lookup: Lookup, token: string): void {
    lookup.leaseToken = token;
    // The response may be over already (a 429 sent, the client gone) before the lookup's reply came.
    const release = () => {
      if (lookup.leaseToken !== token) return;
      lookup.leaseToken = undefined;
      if (this.leases) this.writer.track(this.leases.finish(lookup.digest, token, false));
    };
    whenResponseOver(exchange.rawResponse, release, release);
  }

  private apiVersion(context: ExecutionContext, exchange: HttpExchange): string | undefined {
    return apiVersionOf(this.appConfig?.getVersioning(), exchange, () => context.switchToHttp().getRequest());
  }

  private routeOf(context: ExecutionContext): CacheRoute {
    const handler = context.getHandler();
    let route = this.routes.get(handler);
    if (!route) {
      route = resolveCacheRoute(context, this.reflector, this.options);
      this.routes.set(handler, route);
    }
    return route;
  }

  /** The scope of a request as the handler will see it (see `resolveScope`). */
  private scopeOf(exchange: HttpExchange, route: CacheRoute): CacheScope {
    return resolveScope(exchange, route, {
      userId: this.options.userId ?? defaultUserId,
      parts: this.options.identityParts,
      hash: (value) => this.connection.keys.hashId(value),
    });
  }

  private lookupOf(exchange: HttpExchange, route: CacheRoute, scope: KeyedScope, apiVersion?: string): Lookup {
    return lookupOf(exchange, route, scope, apiVersion, this.options, this.connection.commandTimeoutMs);
  }

  /** A hit, a follower of this instance's leader, or a miss; BYPASS whenever the cache cannot take part. */
  private async serve(
    exchange: HttpExchange,
    route: CacheRoute,
    next: CallHandler,
    apiVersion: string | undefined,
  ): Promise<Observable<unknown>> {
    if (route.bypassReason) {
      this.reporter.warnOnce(route.id, `${route.id} is not cached: ${route.bypassReason}`);
      return this.bypass(exchange, next);
    }
    // A GET with a body: the key cannot hold what the body may change.
    if (!this.options.enabled || exchange.hasBody) return this.bypass(exchange, next);
    // Decided now, after every guard: the identity the handler sees.
    const scope = this.scopeOf(exchange, route);
    if (scope.kind === 'bypass') {
      this.reporter.warnOnce(`${route.id}:${scope.reason}`, bypassWarning(route.id, scope.reason));
      return this.bypass(exchange, next);
    }

    const lookup = this.lookupOf(exchange, route, scope, apiVersion);
    const { directives, digest, deadline } = lookup;
    const perUser = scope.kind === 'user';
    const ttlMs = route.ttlMs ?? 0;

    if (directives.read) {
      // (A fresh L1 entry was answered by intercept, in this same tick.)
      // Read before asking Redis: an invalidation arriving meanwhile keeps the reply out of L1.
      const l1Generation = lookup.read ? lookup.l1Generation : this.l1?.cache.generation;
      let reply: LookupReply;
      try {
        reply = await (lookup.read ?? this.read(exchange, lookup, { deadline }));
      } catch {
        // Redis unavailable (the breaker logs it): a stale L1 copy within its stale-if-error
        // window, else the handler, storing nothing.
        const stale = this.staleInL1(digest, ttlMs, perUser);
        if (stale) return serveHit(exchange, stale, perUser, this.reporter, { stale: 'error', tier: 'l1' });
        return this.bypass(exchange, next);
      }
      if (reply.entry) {
        const entry = await this.decode(reply.entry, exchange, route.id, digest, deadline, perUser);
        if (entry) {
          const freshness = freshnessOf(entry, Date.now(), ttlMs, !perUser);
          if (freshness !== 'expired') this.keep(lookup, entry, ttlMs, perUser, l1Generation);
          if (freshness === 'fresh') return serveHit(exchange, entry, perUser, this.reporter, 'l2');
          if (freshness === 'stale-while-revalidate' && this.refresher && exchange.method === 'GET') {
            this.refresher.schedule(exchange, next, lookup, entry);
            return serveHit(exchange, entry, perUser, this.reporter, { stale: 'revalidate' });
          }
          if (freshness !== 'expired') lookup.stale = entry; // served only if the handler fails
        }
      }
      // Synchronously undefined without a leader: this request then leads in the same tick.
      const following = this.flights.follow(digest, this.options.followerTimeoutMs);
      if (following) {
        const shared = await following;
        if (shared) return serveHit(exchange, shared, perUser, this.reporter, 'l2');
      } else if (reply.lease === 'held' && this.leases) {
        // Another instance computes it: wait for its entry rather than run the handler again.
        const waited = await this.leases.wait(digest);
        this.reporter.leaseWait(waited.outcome === 'unstored' ? 'timeout' : waited.outcome);
        if (waited.outcome === 'filled') {
          const entry = await this.decode(waited.entry, exchange, route.id, digest, deadline, perUser);
          if (entry) return serveHit(exchange, entry, perUser, this.reporter, 'l2');
        } else if (waited.outcome === 'leader') {
          // Several requests of this instance may have waited together: one leads, the rest follow it.
          const local = this.flights.follow(digest, this.options.followerTimeoutMs);
          if (local) {
            const shared = await local;
            if (shared) return serveHit(exchange, shared, perUser, this.reporter, 'l2');
          } else this.holdLease(exchange, lookup, waited.token);
        }
      }
    }
    return this.misses.serve(exchange, next, lookup);
  }

  /** A stored value decoded, or undefined when corrupt (deleted, reported: the request is then a miss). */
  private async decode(
    stored: Buffer,
    exchange: HttpExchange,
    routeId: string,
    digest: string,
    deadline: Deadline,
    perUser: boolean,
  ): Promise<CachedResponse | undefined> {
    const memo = perUser ? undefined : this.decoded;
    const known = memo?.get(digest, stored);
    if (known) return known;
    try {
      const entry = await decodeEntry(stored, this.decodeLimits);
      memo?.set(digest, stored, entry);
      return entry;
    } catch (error) {
      if (!(error instanceof CorruptEntryError)) throw error;
      // Written by something else, or partly: a MISS that replaces it.
      this.reporter.corrupt(exchange, routeId, error);
      this.l1?.cache.forget(digest);
      this.store.remove(digest, { deadline }).catch(() => undefined);
      return undefined;
    }
  }

  /** This instance's copy of an entry when Redis cannot be read, if within its stale-if-error window. */
  private staleInL1(digest: string, routeTtlMs: number, perUser: boolean): CachedResponse | undefined {
    const entry = this.l1?.cache.getStale(digest);
    if (!entry) return undefined;
    const freshness = freshnessOf(entry, Date.now(), routeTtlMs, !perUser);
    // A fresh copy counts too: the L1 may have just turned it away for want of the bus.
    return freshness === 'expired' ? undefined : entry;
  }

  private bypass(exchange: HttpExchange, next: CallHandler): Observable<unknown> {
    this.reporter.status(exchange, 'BYPASS');
    return next.handle();
  }
}
