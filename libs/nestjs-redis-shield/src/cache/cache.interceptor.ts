import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  Optional,
  StreamableFile,
  VersioningType,
} from '@nestjs/common';
import { ApplicationConfig, Reflector } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { finalize, from, mergeMap, type Observable, of } from 'rxjs';
import { RequestPrefetch } from '../events/request-prefetch.js';
import { ShieldEvents } from '../events/shield-events.js';
import { cacheStatusOf, type HttpExchange, httpExchange, recordCacheStatus } from '../http/http-facade.js';
import { defaultUserId } from '../rate-limit/client-id.js';
import { requestDeadline } from '../redis/deadline.js';
import type { RedisConnection } from '../redis/redis.connection.js';
import { cacheDigest } from './cache-key.js';
import { type CacheRoute, resolveCacheRoute } from './cache-route.js';
import { bypassWarning, type CacheScope, resolveScope } from './cache-scope.js';
import { canonicalPath } from './canonical-path.js';
import { InvalidateCacheOn } from './cache.decorators.js';
import type { ResolvedCacheOptions } from './cache.options.js';
import { CACHE_CONNECTION, CACHE_OPTIONS } from './cache.tokens.js';
import { type CachedResponse, CorruptEntryError, type DecodeLimits, decodeEntry } from './entry-codec.js';
import { NotModifiedException } from './not-modified.exception.js';
import { ResponseCacheWriter } from './response-cache.writer.js';
import { CacheStatsCounter } from './cache-stats.counter.js';
import { compilePattern, ResponseCacheStore } from './store/response-cache.store.js';

/** `X-Cache-Status` values. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** Response headers stored with an entry (plus the module's `storeHeaders`). */
const STORED_HEADERS = [
  'content-type',
  'content-language',
  'content-disposition',
  'link',
  'cache-control',
  'vary',
  'etag',
];

interface Directives {
  read: boolean;
  write: boolean;
}

/** A scope under which a request reads and writes entries (never `bypass`). */
type KeyedScope = Exclude<CacheScope, { kind: 'bypass' }>;

/** The cache lookup of one request, kept on the raw request under {@link LOOKUP}. */
interface Lookup {
  route: CacheRoute;
  scope: KeyedScope;
  directives: Directives;
  /** The canonical path (see `canonicalPath`), which the path index and invalidation patterns see. */
  path: string;
  /** The raw query string. */
  query: string;
  digest: string;
  deadline: ReturnType<typeof requestDeadline>;
  /** The entry read started early by {@link CacheInterceptor.prefetch}. */
  read?: Promise<Buffer | null>;
}

const LOOKUP = Symbol('nestjs-redis-shield:cache-lookup');

/**
 * Caches GET responses of routes marked `@CacheTtl` (SPEC §6): per user unless the
 * route is shared, keyed by a SHA-256 of everything that shapes the response, with a
 * strong ETag, `Age`, 304s, HEAD from the GET entry, stampede protection on each
 * instance, and `BYPASS` (never an error) when Redis fails. Runs after the rate-limit
 * guard, so a hit still counts against the limit and carries the current headers.
 */
@Injectable()
export class CacheInterceptor implements NestInterceptor {
  private readonly logger = new Logger('ResponseCache');
  private readonly routes = new WeakMap<object, CacheRoute>();
  private readonly warned = new Set<string>();
  /** Misses being computed on this instance, by digest: followers wait for the leader. */
  private readonly inflight = new Map<string, Promise<CachedResponse | undefined>>();
  /** What a stored entry may hold; an entry beyond it is corrupt (see `decodeEntry`). */
  private readonly decodeLimits: DecodeLimits;

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
    this.decodeLimits = {
      maxBodyBytes: options.maxEntryBytes,
      headerNames: new Set([...STORED_HEADERS, ...options.storeHeaders]),
    };
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

  /**
   * Starts the cache read of a request before the handler chain reaches the interceptor:
   * the rate-limit guard calls it right before its own script, so a limited cache hit
   * costs one round trip of latency, not two. Does nothing for requests that will not
   * read (not cacheable, caching off, directives, no cacheable scope). The read is
   * speculative: guards that run later may still authenticate the request, so
   * the interceptor uses it only if the scope it decides then is the same.
   */
  prefetch(context: ExecutionContext): void {
    if (context.getType() !== 'http') return;
    const exchange = httpExchange(context);
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') return;
    const route = this.routeOf(context);
    if (route.ttlMs === undefined || route.bypassReason || !this.options.enabled) return;
    const scope = this.scopeOf(exchange, route);
    if (scope.kind === 'bypass') return;
    const lookup = this.lookupOf(exchange, route, scope, this.apiVersion(context, exchange));
    if (!lookup.directives.read) return;
    // The guard's script right before it already tells the breaker about a stalled Redis:
    // the same stall must not count twice per request.
    lookup.read = this.store.read(lookup.digest, { deadline: lookup.deadline, tripsBreaker: false });
    lookup.read.catch(() => undefined); // a 429 never awaits it
  }

  /** The scope of a request as the handler will see it (see `resolveScope`). */
  private scopeOf(exchange: HttpExchange, route: CacheRoute): CacheScope {
    return resolveScope(exchange, route, this.options.userId ?? defaultUserId, (userId) =>
      this.connection.keys.hashId(`user:${userId}`),
    );
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
    const vary = Object.fromEntries(route.vary.map((name) => [name, exchange.header(name)]));
    const perUser = scope.kind === 'user';
    const lookup: Lookup = {
      route,
      scope,
      directives: this.directives(exchange, perUser),
      path,
      query: url.query,
      digest: cacheDigest({
        keyVersion: this.options.keyVersion,
        handlerId: route.id,
        apiVersion,
        method: 'GET',
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
    if (!this.options.enabled) return this.bypass(exchange, next);
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
      const leader = this.inflight.get(digest);
      if (leader) {
        const shared = await this.follow(leader);
        if (shared) return this.hit(exchange, shared, perUser);
      }
    }
    return this.miss(exchange, route, next, lookup);
  }

  private async miss(
    exchange: HttpExchange,
    route: CacheRoute,
    next: CallHandler,
    lookup: Lookup,
  ): Promise<Observable<unknown>> {
    const { digest, scope, deadline } = lookup;
    const perUser = scope.kind === 'user';
    const write = lookup.directives.write;
    // Only requests with a query string are variants the cap guards against.
    const capped = lookup.query !== '';
    let settle: (entry: CachedResponse | undefined) => void = () => undefined;
    const result = new Promise<CachedResponse | undefined>((resolve) => (settle = resolve));
    const leads = !this.inflight.has(digest);
    if (leads) this.inflight.set(digest, result);
    const finish = (entry: CachedResponse | undefined) => {
      settle(entry);
      if (leads) this.inflight.delete(digest);
    };
    // Read while the handler runs: the generation (for the stale-store check) and, for a
    // request with a query string, the stored variants of its route in its scope (for the cap).
    const before = write
      ? Promise.all([
          this.store.generation({ deadline }),
          capped ? this.store.liveVariants(route.id, userIdOf(scope), { deadline }) : 0,
        ]).catch(() => undefined)
      : Promise.resolve(undefined);
    return next.handle().pipe(
      mergeMap(async (data: unknown) => {
        const captured = capture(exchange, data);
        if (!captured) {
          finish(undefined);
          setStatus(exchange, 'BYPASS');
          return data;
        }
        const entry = this.entryOf(exchange, route, captured, perUser);
        finish(entry.storable ? entry.response : undefined);
        const [generation, variants] = (await before) ?? [];
        const stored =
          entry.storable &&
          write &&
          generation !== undefined &&
          (variants ?? Number.POSITIVE_INFINITY) < this.options.maxQueryVariants;
        // Decided only now: a response that is never stored (a 404, a cookie, no-store) is no MISS.
        setStatus(exchange, stored ? 'MISS' : 'BYPASS');
        if (stored) {
          this.counter.miss();
          this.writer.write(
            {
              digest,
              route: { id: route.id, template: exchange.routeTemplate ?? route.id },
              path: lookup.path,
              userId: userIdOf(scope),
              tags: route.tags,
            },
            entry.response,
            route.ttlMs!,
            generation!,
          );
        }
        return exchange.textBody(entry.response.body);
      }),
      // Followers never wait on a leader that failed or produced nothing storable.
      finalize(() => {
        finish(undefined);
        // The final status; an error answered by an exception filter was never a candidate.
        this.lookedUp(exchange, (cacheStatusOf(exchange.raw) as CacheStatus | undefined) ?? 'BYPASS');
      }),
    );
  }

  /** Builds the entry of a fresh response and decides whether it may be stored. */
  private entryOf(
    exchange: HttpExchange,
    route: CacheRoute,
    captured: { body: Buffer; contentType: string },
    perUser: boolean,
  ): { response: CachedResponse; storable: boolean } {
    const etag = `"${createHash('sha256').update(captured.body).digest('base64url').slice(0, 27)}"`;
    exchange.setHeader('ETag', etag);
    exchange.setHeader('Content-Type', exchange.responseHeader('content-type') ?? captured.contentType);
    if (perUser) markPrivate(exchange);
    const headers: Record<string, string> = {};
    for (const name of [...STORED_HEADERS, ...this.options.storeHeaders]) {
      const value = exchange.responseHeader(name);
      if (value !== undefined) headers[name] = value;
    }
    const status = exchange.statusCode === 200 ? route.status : exchange.statusCode;
    const cacheControl = (headers['cache-control'] ?? '').toLowerCase();
    const responseVary = (headers.vary ?? '')
      .toLowerCase()
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '' && name !== 'authorization');
    const storable =
      (status === 200 || status === 201) &&
      exchange.responseHeader('set-cookie') === undefined &&
      !/\bno-store\b/.test(cacheControl) &&
      !(!perUser && /\bprivate\b/.test(cacheControl)) &&
      responseVary.every((name) => route.vary.includes(name)) &&
      captured.body.length <= this.options.maxEntryBytes;
    return { response: { status, headers, body: captured.body, storedAt: Date.now(), etag }, storable };
  }

  private hit(exchange: HttpExchange, entry: CachedResponse, perUser: boolean): Observable<unknown> {
    this.counter.hit();
    for (const [name, value] of Object.entries(entry.headers)) exchange.setHeader(name, value);
    exchange.setHeader('ETag', entry.etag);
    exchange.setHeader('Age', String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000))));
    setStatus(exchange, 'HIT');
    this.lookedUp(exchange, 'HIT');
    if (perUser) markPrivate(exchange);
    if (matchesEtag(exchange.header('if-none-match'), entry.etag)) throw new NotModifiedException();
    return of(exchange.textBody(entry.body));
  }

  private bypass(exchange: HttpExchange, next: CallHandler): Observable<unknown> {
    setStatus(exchange, 'BYPASS');
    this.lookedUp(exchange, 'BYPASS');
    return next.handle();
  }

  /** One `cache.lookup` event per cacheable request, with its final status. */
  private lookedUp(exchange: HttpExchange, status: CacheStatus): void {
    this.events.emit('cache.lookup', { route: exchange.routeTemplate ?? 'unknown', status });
  }

  /** Waits for the leader's result up to `followerTimeoutMs`; undefined when it failed or took too long. */
  private async follow(leader: Promise<CachedResponse | undefined>): Promise<CachedResponse | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.followerTimeoutMs);
    });
    try {
      return await Promise.race([leader, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Request `Cache-Control`: `no-cache` skips the lookup and stores the fresh response;
   * `no-store` neither reads nor writes. With `per-user`, directives apply to per-user
   * entries; on shared entries `no-cache` is ignored and `no-store` only prevents storing,
   * so no client can make a shared route rerun its handler at will.
   */
  private directives(exchange: HttpExchange, perUser: boolean): Directives {
    const header = (exchange.header('cache-control') ?? '').toLowerCase();
    const noStore = /\bno-store\b/.test(header);
    const noCache = /\bno-cache\b/.test(header) || (exchange.header('pragma') ?? '').toLowerCase() === 'no-cache';
    const mode = this.options.honorRequestCacheControl;
    if (mode === 'never') return { read: true, write: true };
    if (mode === 'always' || perUser) return { read: !noCache && !noStore, write: !noStore };
    return { read: true, write: !noStore };
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

/** Sets `X-Cache-Status` and records it for logs. */
function setStatus(exchange: HttpExchange, status: CacheStatus): void {
  exchange.setHeader('X-Cache-Status', status);
  recordCacheStatus(exchange.raw, status);
}

/** The bytes the adapter would send for a handler result, or undefined when not cacheable. */
function capture(exchange: HttpExchange, data: unknown): { body: Buffer; contentType: string } | undefined {
  if (data === undefined || data === null) return undefined;
  if (
    data instanceof StreamableFile ||
    Buffer.isBuffer(data) ||
    data instanceof Readable ||
    data instanceof Uint8Array
  ) {
    return undefined;
  }
  if (typeof data === 'string') return { body: Buffer.from(data), contentType: 'text/html; charset=utf-8' };
  const json = JSON.stringify(data);
  if (json === undefined) return undefined;
  return { body: Buffer.from(json), contentType: 'application/json; charset=utf-8' };
}

/**
 * The path and query string of a request target as sent: no `URL` parse per request in
 * origin form. Nothing is normalised, so two spellings of a path are two entries, never
 * one entry for two paths.
 */
function splitUrl(target: string): { path: string; query: string } {
  if (!target.startsWith('/')) {
    // Absolute form (`GET http://host/path`): the path index must hold the path alone.
    const url = new URL(target, 'http://cache.invalid');
    return { path: url.pathname, query: url.search.slice(1) };
  }
  const mark = target.indexOf('?');
  const end = target.indexOf('#');
  const stop = end === -1 ? target.length : end;
  if (mark === -1 || mark > stop) return { path: target.slice(0, stop), query: '' };
  return { path: target.slice(0, mark), query: target.slice(mark + 1, stop) };
}

/** Per-user entries must never be shared by a proxy downstream. */
function markPrivate(exchange: HttpExchange): void {
  const cacheControl = exchange.responseHeader('cache-control');
  if (!cacheControl || !/\bprivate\b/i.test(cacheControl)) {
    exchange.setHeader('Cache-Control', cacheControl ? `private, ${cacheControl}` : 'private');
  }
  const vary = exchange.responseHeader('vary');
  if (!vary || !/\bauthorization\b/i.test(vary))
    exchange.setHeader('Vary', vary ? `${vary}, Authorization` : 'Authorization');
}

/** `If-None-Match` against a strong ETag (`*` matches anything; weak comparison allowed). */
function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}
