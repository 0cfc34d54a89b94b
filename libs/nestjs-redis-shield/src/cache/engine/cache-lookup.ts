import { type Deadline, requestDeadline } from '../../core/deadline.js';
import type { HttpExchange } from '../../core/http/http-facade.js';
import { requestState } from '../../core/request-state.js';
import type { CacheRoute } from '../nest/cache-route.js';
import type { LookupReply } from '../store/response-cache.store.js';
import { cacheDigest } from './cache-key.js';
import type { CachedResponse } from './entry-codec.js';
import type { KeyedScope } from './cache-scope.js';
import type { ResolvedCacheOptions } from './cache.options.js';
import { canonicalPath } from './canonical-path.js';
import { type Directives, requestDirectives, splitUrl } from './request-directives.js';

/** The cache lookup of one request, kept in its request state (see {@link lookupOf}). */
export interface Lookup {
  route: CacheRoute;
  scope: KeyedScope;
  directives: Directives;
  /** The canonical path (see `canonicalPath`), which the path index and invalidation patterns see. */
  path: string;
  /** The request headers the key was made of: declared and learned `vary`. */
  keyedHeaders: ReadonlySet<string>;
  digest: string;
  deadline: Deadline;
  /** The entry read started early, before the handler chain reached the interceptor (its prefetch). */
  read?: Promise<LookupReply>;
  /** The token of the cross-instance lease this request holds on its digest, until its miss takes it over. */
  leaseToken?: string;
  /** A stored entry past its freshness that may still be served if the handler fails (stale-if-error). */
  stale?: CachedResponse;
  /** The L1's generation when {@link read} was started (see `L1Cache.put`). */
  l1Generation?: number;
}

/** The module options the key of a request is made of, besides the request itself. */
export type LookupOptions = Pick<ResolvedCacheOptions, 'keyVersion' | 'keyByHost' | 'honorRequestCacheControl'>;

/** What {@link lookupOf} reads of a request. */
export type LookupRequest = Pick<HttpExchange, 'raw' | 'routeTemplate' | 'params' | 'header' | 'host' | 'protocol'>;

/**
 * Everything the key of a request is made of, once per request and scope: the lookup is
 * kept in the request's state (`requestState(raw).cacheLookup`), and a later call with
 * the same route and scope gets it back (with the read its prefetch started). A lookup
 * made under another scope (prefetched before a later guard set `request.user`) is
 * replaced, its read discarded; the request keeps one deadline throughout (the
 * request's, see `requestDeadline`).
 *
 * @param apiVersion The API version the request asked for (see `apiVersionOf`), part of the key.
 * @param commandTimeoutMs The request's Redis budget, in ms, when its deadline is created here.
 */
export function lookupOf(
  exchange: LookupRequest,
  route: CacheRoute,
  scope: KeyedScope,
  apiVersion: string | undefined,
  options: LookupOptions,
  commandTimeoutMs: number,
): Lookup {
  const state = requestState(exchange.raw);
  const known = state.cacheLookup as Lookup | undefined;
  if (known && known.route === route && known.scope.key === scope.key) return known;
  const url = splitUrl(exchange.raw.url ?? '/');
  const template = exchange.routeTemplate;
  const params = exchange.params;
  const path = template === undefined ? url.path : canonicalPath(template, params);
  const keyedHeaders = new Set([...route.vary, ...route.learnedVary]);
  const vary = Object.fromEntries([...keyedHeaders].map((name) => [name, exchange.header(name)]));
  const byHost = options.keyByHost || route.hostRouted;
  const lookup: Lookup = {
    route,
    scope,
    directives: requestDirectives(exchange, scope.kind === 'user', options.honorRequestCacheControl),
    path,
    keyedHeaders,
    digest: cacheDigest({
      keyVersion: options.keyVersion,
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
    deadline: requestDeadline(exchange.raw, commandTimeoutMs),
  };
  state.cacheLookup = lookup;
  return lookup;
}

/** The raw user id of a per-user scope (for the user's and the variant indexes); undefined when shared. */
export function userIdOf(scope: KeyedScope): string | undefined {
  return scope.kind === 'user' ? scope.userId : undefined;
}
