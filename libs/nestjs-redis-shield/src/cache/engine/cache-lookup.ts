import { type Deadline, requestDeadline } from '../../core/deadline.js';
import type { HttpExchange } from '../../core/http/http-facade.js';
import { MEMO_MAX_INPUT_LENGTH } from '../../core/bounded-memo.js';
import { BoundedMap } from '../../core/lru.js';
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
  const byHost = options.keyByHost || route.hostRouted;
  const keyed = keyedPartsOf(exchange, route, scope, apiVersion, options, byHost);
  const lookup: Lookup = {
    route,
    scope,
    directives: requestDirectives(exchange, scope.kind === 'user', options.honorRequestCacheControl),
    path: keyed.path,
    keyedHeaders: keyed.keyedHeaders,
    digest: keyed.digest,
    deadline: requestDeadline(exchange.raw, commandTimeoutMs),
  };
  state.cacheLookup = lookup;
  return lookup;
}

/** What a request's key is made of and its digest, the same for every request with the same inputs. */
interface KeyedParts {
  path: string;
  keyedHeaders: ReadonlySet<string>;
  digest: string;
}

/** A route's recent keys, by everything they are made of (see {@link keyedPartsOf}). */
interface RouteKeys {
  /** `route.learnedVary.size` when these were made: a header learned since splits keys differently. */
  learned: number;
  keyedHeaders: ReadonlySet<string>;
  known: BoundedMap<string, KeyedParts>;
}

/**
 * Most keys remembered per route: a hot route's working set of URLs, hosts, scopes and
 * variants. With inputs of at most `MEMO_MAX_INPUT_LENGTH` characters, about 2 MB per
 * route however many distinct URLs clients send.
 */
const KEYS_PER_ROUTE = 2000;
const routeKeys = new WeakMap<CacheRoute, RouteKeys>();

/**
 * The canonical path, keyed headers and digest of a request, remembered per route by the
 * raw inputs they are computed from: the key version, the scope, API version, host and scheme (when keyed
 * by host), the route template, the request target as sent (path, query and so the route
 * parameters the router decodes from it) and the values of the keyed headers. A hit
 * skips the canonical path, the query's canonical form, the JSON and the SHA-256; the
 * parts are joined by a newline, which none of them can hold (HTTP forbids it in a
 * request target and in header values).
 */
function keyedPartsOf(
  exchange: LookupRequest,
  route: CacheRoute,
  scope: KeyedScope,
  apiVersion: string | undefined,
  options: LookupOptions,
  byHost: boolean,
): KeyedParts {
  let keys = routeKeys.get(route);
  if (keys === undefined || keys.learned !== route.learnedVary.size) {
    keys = {
      learned: route.learnedVary.size,
      keyedHeaders: new Set([...route.vary, ...route.learnedVary]),
      known: new BoundedMap(KEYS_PER_ROUTE),
    };
    routeKeys.set(route, keys);
  }
  const target = exchange.raw.url ?? '/';
  const template = exchange.routeTemplate;
  const host = byHost ? exchange.host : undefined;
  const scheme = byHost ? exchange.protocol : undefined;
  let memo = `${options.keyVersion}\n${scope.key}\n${apiVersion ?? '\u0000'}\n${host ?? '\u0000'}\n${scheme ?? '\u0000'}\n${template ?? '\u0000'}\n${target}`;
  for (const name of keys.keyedHeaders) {
    const value = exchange.header(name);
    memo += value === undefined ? '\n\u0000' : `\n=${value}`;
  }
  // A target near the header size limit is keyed afresh every time, never kept (see MEMO_MAX_INPUT_LENGTH).
  const keep = memo.length <= MEMO_MAX_INPUT_LENGTH;
  const known = keep ? keys.known.get(memo) : undefined;
  if (known !== undefined) return known;
  const url = splitUrl(target);
  const params = exchange.params;
  const vary = Object.fromEntries([...keys.keyedHeaders].map((name) => [name, exchange.header(name)]));
  const path = template === undefined ? url.path : canonicalPath(template, params);
  const parts: KeyedParts = {
    path,
    keyedHeaders: keys.keyedHeaders,
    digest: cacheDigest({
      keyVersion: options.keyVersion,
      handlerId: route.id,
      apiVersion,
      method: 'GET',
      host,
      scheme,
      path,
      template,
      params,
      query: url.query,
      scope: scope.key,
      vary,
    }),
  };
  if (keep) keys.known.set(memo, parts);
  return parts;
}

/** The raw user id of a per-user scope (for the user's and the variant indexes); undefined when shared. */
export function userIdOf(scope: KeyedScope): string | undefined {
  return scope.kind === 'user' ? scope.userId : undefined;
}
