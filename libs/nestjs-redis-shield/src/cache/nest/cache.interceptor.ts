import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  Optional,
  VersioningType,
} from '@nestjs/common';
import { ApplicationConfig, Reflector } from '@nestjs/core';
import onHeaders from 'on-headers';
import { finalize, from, mergeMap, type Observable, of, takeLast } from 'rxjs';
import { RequestPrefetch } from '../../core/events/request-prefetch.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { type HttpExchange, httpExchange, recordCacheStatus, writtenHeader } from '../../core/http/http-facade.js';
import { defaultUserId } from '../../rate-limit/engine/client-id.js';
import { requestDeadline } from '../../core/deadline.js';
import { SingleFlight } from '../../core/single-flight.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { cacheDigest } from '../engine/cache-key.js';
import { type CacheRoute, MAX_LEARNED_VARY, resolveCacheRoute } from './cache-route.js';
import { bypassWarning, type CacheScope, resolveScope } from '../engine/cache-scope.js';
import { canonicalPath } from '../engine/canonical-path.js';
import { InvalidateCacheOn } from './cache.decorators.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import { CACHE_CONNECTION, CACHE_OPTIONS } from './cache.constants.js';
import { type CachedResponse, CorruptEntryError, type DecodeLimits, decodeEntry } from '../engine/entry-codec.js';
import { NotModifiedException } from './not-modified.exception.js';
import { type Directives, requestDirectives, splitUrl } from '../engine/request-directives.js';
import { capture, type CapturedBody, markPrivate, STORED_HEADERS } from './response-capture.js';
import { etagOf, matchesEtag } from '../engine/etag.js';
import { ResponseCacheWriter } from './response-cache.writer.js';
import { CacheStatsCounter } from './cache-stats.counter.js';
import { decideStorage, type StorageDecision } from '../engine/storability.js';
import { compilePattern, ResponseCacheStore } from '../store/response-cache.store.js';

/** `X-Cache-Status` values. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** A scope under which a request reads and writes entries (never `bypass`). */
type KeyedScope = Exclude<CacheScope, { kind: 'bypass' }>;

/** The cache lookup of one request, kept on the raw request under {@link LOOKUP}. */
interface Lookup {
  route: CacheRoute;
  scope: KeyedScope;
  directives: Directives;
  /** The canonical path (see `canonicalPath`), which the path index and invalidation patterns see. */
  path: string;
  /** The request headers the key was made of: declared and learned `vary`. */
  keyedHeaders: ReadonlySet<string>;
  digest: string;
  deadline: ReturnType<typeof requestDeadline>;
  /** The entry read started early by {@link CacheInterceptor.prefetch}. */
  read?: Promise<Buffer | null>;
}

const LOOKUP = Symbol('nestjs-redis-shield:cache-lookup');

/** How often, at most, a route and scope at its variant cap is recounted within one generation, in ms. */
const VARIANT_RECOUNT_MS = 60_000;

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
  private readonly logger = new Logger('ResponseCache');
  private readonly routes = new WeakMap<object, CacheRoute>();
  private readonly warned = new Set<string>();
  /** Misses being computed on this instance, by digest: followers wait for the leader. */
  private readonly flights = new SingleFlight<CachedResponse | undefined>();
  /** What a stored entry may hold; an entry beyond it is corrupt (see `decodeEntry`). */
  private readonly decodeLimits: DecodeLimits;
  private readonly storedHeaders: readonly string[];
  /** When each route and scope at its variant cap was last recounted (see {@link variants}). */
  private readonly recounted = new Map<string, { generation: string; at: number }>();

  /** @internal Instantiated by Nest; register the interceptor through `ResponseCacheModule`. */
  constructor(
    private readonly reflector: Reflector,
    @Inject(CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
    private readonly store: ResponseCacheStore,
    @Inject(CACHE_CONNECTION) private readonly connection: RedisConnection,
    private readonly writer: ResponseCacheWriter,
    private readonly counter: CacheStatsCounter,
    private readonly events: ShieldEvents,
    @Optional() private readonly appConfig?: ApplicationConfig,
    @Optional() prefetch?: RequestPrefetch,
  ) {
    prefetch?.register((context) => this.prefetch(context));
    this.storedHeaders = [...new Set([...STORED_HEADERS, ...options.storeHeaders])];
    this.decodeLimits = { maxBodyBytes: options.maxEntryBytes, headerNames: new Set(this.storedHeaders) };
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const exchange = httpExchange(context);
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') return this.invalidating(context, exchange, next);
    const route = this.routeOf(context);
    if (route.ttlMs === undefined) return next.handle();
    return from(this.serve(exchange, route, next, this.apiVersion(context, exchange))).pipe(
      mergeMap((result) => result),
    );
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
    // The guard's script right before it already tells the breaker about a stalled Redis:
    // the same stall must not count twice per request.
    lookup.read = this.store.read(lookup.digest, { deadline: lookup.deadline, tripsBreaker: false });
    lookup.read.catch(() => undefined); // a 429 never awaits it
  }

  /**
   * The API version the request asked for when Nest versioning is on and the version is
   * not in the path (header, media type or custom extractor): part of the key.
   */
  private apiVersion(context: ExecutionContext, exchange: HttpExchange): string | undefined {
    const versioning = this.appConfig?.getVersioning();
    switch (versioning?.type) {
      case VersioningType.HEADER:
        return exchange.header(versioning.header.toLowerCase());
      case VersioningType.MEDIA_TYPE: {
        const part = (exchange.header('accept') ?? '')
          .split(/[;,]/)
          .map((item) => item.trim())
          .find((item) => item.startsWith(versioning.key));
        return part?.slice(versioning.key.length);
      }
      case VersioningType.CUSTOM: {
        const version = versioning.extractor(context.switchToHttp().getRequest());
        return Array.isArray(version) ? version.join(',') : version;
      }
      default:
        return undefined; // URI versioning: the version is in the path
    }
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

  /**
   * Everything the key of a request is made of, once per request and scope: a lookup
   * prefetched under another scope (before a later guard set `request.user`) is
   * replaced, its read discarded.
   */
  private lookupOf(
    exchange: HttpExchange,
    route: CacheRoute,
    scope: KeyedScope,
    apiVersion: string | undefined,
  ): Lookup {
    const raw = exchange.raw as unknown as Record<symbol, Lookup | undefined>;
    const known = raw[LOOKUP];
    if (known && known.route === route && known.scope.key === scope.key) return known;
    const url = splitUrl(exchange.raw.url ?? '/');
    const template = exchange.routeTemplate;
    const params = exchange.params;
    const path = template === undefined ? url.path : canonicalPath(template, params);
    const keyedHeaders = new Set([...route.vary, ...route.learnedVary]);
    const vary = Object.fromEntries([...keyedHeaders].map((name) => [name, exchange.header(name)]));
    const byHost = this.options.keyByHost || route.hostRouted;
    const lookup: Lookup = {
      route,
      scope,
      directives: requestDirectives(exchange, scope.kind === 'user', this.options.honorRequestCacheControl),
      path,
      keyedHeaders,
      digest: cacheDigest({
        keyVersion: this.options.keyVersion,
        handlerId: route.id,
        apiVersion,
        method: 'GET',
        host: byHost ? exchange.host : undefined,
        scheme: byHost ? exchange.protocol : undefined,
        path,
        template,
        params,
        query: url.query,
        scope: scope.key,
        vary,
      }),
      deadline: known?.deadline ?? requestDeadline(exchange.raw, this.connection.commandTimeoutMs),
    };
    raw[LOOKUP] = lookup;
    return lookup;
  }

  private async serve(
    exchange: HttpExchange,
    route: CacheRoute,
    next: CallHandler,
    apiVersion: string | undefined,
  ): Promise<Observable<unknown>> {
    if (route.bypassReason) {
      this.warnOnce(route.id, `${route.id} is not cached: ${route.bypassReason}`);
      return this.bypass(exchange, next);
    }
    // A GET with a body: the key cannot hold what the body may change.
    if (!this.options.enabled || exchange.hasBody) return this.bypass(exchange, next);
    // Decided now, after every guard: the identity the handler sees.
    const scope = this.scopeOf(exchange, route);
    if (scope.kind === 'bypass') {
      this.warnOnce(`${route.id}:${scope.reason}`, bypassWarning(route.id, scope.reason));
      return this.bypass(exchange, next);
    }

    const lookup = this.lookupOf(exchange, route, scope, apiVersion);
    const { directives, digest, deadline } = lookup;
    const perUser = scope.kind === 'user';

    if (directives.read) {
      let stored: Buffer | null;
      try {
        stored = await (lookup.read ?? this.store.read(digest, { deadline }));
      } catch {
        // Redis unavailable (the breaker logs it): serve from the handler, store nothing.
        return this.bypass(exchange, next);
      }
      if (stored) {
        try {
          return this.hit(exchange, await decodeEntry(stored, this.decodeLimits), perUser);
        } catch (error) {
          if (!(error instanceof CorruptEntryError)) throw error;
          // Written by something else, or partly: a MISS that replaces it.
          this.warnOnce(
            `${route.id}:corrupt`,
            `corrupt entry of ${route.id} deleted and recomputed (${error.message}); further ones are counted, not logged`,
          );
          this.events.emit('cache.corrupt', { route: exchange.routeTemplate ?? 'unknown' });
          this.store.remove(digest, { deadline }).catch(() => undefined);
        }
      }
      const following = this.flights.follow(digest, this.options.followerTimeoutMs);
      if (following) {
        const shared = await following;
        if (shared) return this.hit(exchange, shared, perUser);
      }
    }
    return this.miss(exchange, route, next, lookup);
  }

  /**
   * Runs the handler and stores its response if the response, as finally written,
   * allows it. Only the handler's last value counts, and only once it completed without
   * error; followers of this miss are released with the stored response, or with nothing.
   */
  private miss(exchange: HttpExchange, route: CacheRoute, next: CallHandler, lookup: Lookup): Observable<unknown> {
    const { digest, scope, deadline } = lookup;
    const perUser = scope.kind === 'user';
    // A HEAD is answered from the GET entry but never writes one: its body is empty.
    const write = lookup.directives.write && exchange.method === 'GET';
    // Undefined when another request leads this digest: this one runs on its own.
    const flight = this.flights.claim(digest);
    // The leader keeps the digest until its entry is in Redis (or known not to be): a
    // request arriving before that would read a miss and run the handler again.
    const finish = (entry: CachedResponse | undefined, stored?: Promise<void>) => flight?.settle(entry, stored);
    // Read while the handler runs: the generation (for the stale-store check) and the
    // stored variants of the route in this scope (for the cap).
    const before = write
      ? Promise.all([
          this.store.generation({ deadline }),
          this.store.liveVariants(route.id, userIdOf(scope), { deadline }),
        ])
          .then(
            async ([generation, count]) =>
              [generation, await this.recount(route, scope, count, generation, deadline)] as const,
          )
          .catch(() => undefined)
      : Promise.resolve(undefined);
    let decided = false;
    return next.handle().pipe(
      takeLast(1),
      mergeMap(async (data: unknown) => {
        const captured = capture(data);
        if (!captured) {
          decided = true;
          finish(undefined);
          this.setStatus(exchange, 'BYPASS');
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
        const decide = () => this.decide(exchange, route, lookup, captured.body.length);
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
        response.once('finish', () =>
          this.complete(exchange, route, lookup, captured, etag, admissible ? generation : undefined, decide(), finish),
        );
        // A response that is never completed (the client went away) stores nothing.
        response.once('close', () => finish(undefined));
        return exchange.textBody(captured.body);
      }),
      // An error or an empty result stores nothing; followers then run their own handler.
      finalize(() => {
        if (decided) return;
        finish(undefined);
        this.lookedUp(exchange, 'BYPASS');
      }),
    );
  }

  /**
   * A route's variant count in a scope, for the cap. At the cap, it is checked against
   * the entries that still exist (invalidations cannot reach the variant indexes), once
   * per route, scope and invalidation generation (and at least every
   * {@link VARIANT_RECOUNT_MS}, for entries Redis evicted).
   */
  private async recount(
    route: CacheRoute,
    scope: KeyedScope,
    count: number,
    generation: string,
    deadline: Lookup['deadline'],
  ): Promise<number> {
    if (count < this.options.maxVariants) return count;
    const key = `${route.id}\n${scope.key}`;
    const last = this.recounted.get(key);
    const now = Date.now();
    if (last && last.generation === generation && now - last.at < VARIANT_RECOUNT_MS) return count;
    if (this.recounted.size >= 10_000) this.recounted.clear();
    this.recounted.set(key, { generation, at: now });
    return this.store.pruneVariants(route.id, userIdOf(scope), this.options.maxVariants, { deadline });
  }

  /** Whether the response as written so far may be stored (see `decideStorage`), learning its undeclared `Vary`. */
  private decide(exchange: HttpExchange, route: CacheRoute, lookup: Lookup, bodyBytes: number): StorageDecision {
    const response = exchange.rawResponse;
    const decision = decideStorage(
      { status: response.statusCode, header: (name) => writtenHeader(response, name), bodyBytes },
      {
        routeTtlMs: route.ttlMs!,
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
    route: CacheRoute,
    lookup: Lookup,
    captured: CapturedBody,
    etag: string,
    generation: string | undefined,
    decision: StorageDecision,
    finish: (entry: CachedResponse | undefined, stored?: Promise<void>) => void,
  ): void {
    const stored = generation !== undefined && decision.store;
    // Normally what the header said; BYPASS if a header set after ours forbade storing.
    recordCacheStatus(exchange.raw, stored ? 'MISS' : 'BYPASS');
    this.lookedUp(exchange, stored ? 'MISS' : 'BYPASS');
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
    };
    this.counter.miss();
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

  private hit(exchange: HttpExchange, entry: CachedResponse, perUser: boolean): Observable<unknown> {
    this.counter.hit();
    for (const [name, value] of Object.entries(entry.headers)) exchange.setHeader(name, value);
    exchange.setHeader('ETag', entry.etag);
    exchange.setHeader('Age', String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000))));
    this.setStatus(exchange, 'HIT');
    if (perUser) markPrivate(exchange);
    if (matchesEtag(exchange.header('if-none-match'), entry.etag)) throw new NotModifiedException();
    return of(exchange.textBody(entry.body));
  }

  private bypass(exchange: HttpExchange, next: CallHandler): Observable<unknown> {
    this.setStatus(exchange, 'BYPASS');
    return next.handle();
  }

  /** Sets `X-Cache-Status`, records it for logs and emits the request's one `cache.lookup` event. */
  private setStatus(exchange: HttpExchange, status: CacheStatus): void {
    exchange.setHeader('X-Cache-Status', status);
    recordCacheStatus(exchange.raw, status);
    this.lookedUp(exchange, status);
  }

  /** One `cache.lookup` event per cacheable request, with its final status. */
  private lookedUp(exchange: HttpExchange, status: CacheStatus): void {
    this.events.emit('cache.lookup', { route: exchange.routeTemplate ?? 'unknown', status });
  }

  /** After a 2xx, runs the handler's `@InvalidateCache` targets. */
  private invalidating(context: ExecutionContext, exchange: HttpExchange, next: CallHandler): Observable<unknown> {
    const targets = this.reflector.getAllAndOverride(InvalidateCacheOn, [context.getHandler(), context.getClass()]);
    if (!targets) return next.handle();
    return next.handle().pipe(
      mergeMap(async (data: unknown) => {
        if (exchange.statusCode >= 200 && exchange.statusCode < 300) {
          const jobs: Promise<number>[] = [];
          for (const pattern of targets.endpoints ?? []) jobs.push(this.store.clearRoutes(compilePattern(pattern)));
          for (const pattern of targets.paths ?? []) jobs.push(this.store.clearPaths(compilePattern(pattern)));
          if (targets.tags?.length) jobs.push(this.store.clearTags(targets.tags));
          const results = await Promise.allSettled(jobs);
          if (results.some((result) => result.status === 'rejected')) {
            this.logger.warn(
              `@InvalidateCache on ${context.getClass().name}.${context.getHandler().name} failed (Redis unavailable)`,
            );
          }
        }
        return data;
      }),
    );
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(message);
  }
}

/** The raw user id of a per-user scope; undefined when shared. */
function userIdOf(scope: KeyedScope): string | undefined {
  return scope.kind === 'user' ? scope.userId : undefined;
}
