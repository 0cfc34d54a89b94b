import type { ExecutionContext } from '@nestjs/common';
import {
  HOST_METADATA,
  HTTP_CODE_METADATA,
  REDIRECT_METADATA,
  RESPONSE_PASSTHROUGH_METADATA,
  ROUTE_ARGS_METADATA,
  SSE_METADATA,
} from '@nestjs/common/constants.js';
import type { Reflector } from '@nestjs/core';
import { shieldError } from '../../core/errors.js';
import { CacheShared, CacheTagsOn, CacheTtl, CacheVaryOn, NoCache } from './cache.decorators.js';
import { cacheLifetimeOf, type ResolvedCacheOptions } from '../engine/cache.options.js';

/** What the interceptor needs to know about one handler, resolved once. */
export interface CacheRoute {
  /** `Controller.handler`. */
  id: string;
  /** Time to live in ms; undefined when the route is not cacheable. */
  ttlMs?: number;
  /** After the TTL, how long an entry is served stale while it is refreshed, in ms. */
  staleWhileRevalidateMs: number;
  /** After the TTL, how long an entry is served stale when the handler or Redis fails, in ms. */
  staleIfErrorMs: number;
  /** Whether a response's own `Cache-Control` sets its lifetimes (see `CacheTtlOptions`). */
  respectResponseCacheControl: boolean;
  shared: boolean;
  /** Declared request headers that split entries (module + route), lower-case. */
  vary: readonly string[];
  /**
   * Request headers this route's responses were seen to vary on (`Vary`) without
   * declaring them: they split its keys from then on (at most {@link MAX_LEARNED_VARY}).
   */
  learnedVary: Set<string>;
  /** Whether the controller routes by host (`@Controller({ host })`): the host is always in its keys. */
  hostRouted: boolean;
  tags: readonly string[];
  /** The status a successful response has (`@HttpCode`, else 200). */
  status: number;
  /** Why the route can never be stored (`@Res()`, SSE), logged once. */
  bypassReason?: string;
}

const RESPONSE_PARAM = '1:'; // RouteParamtypes.RESPONSE

/** Most undeclared `Vary` headers a route learns; beyond, such responses are not stored. */
export const MAX_LEARNED_VARY = 8;

/**
 * Reads a handler's cache metadata (handler wins over class) and validates its TTL profile.
 *
 * @throws SHIELD_E018 when `@CacheTtl` names no profile of `ttlProfiles` or gives seconds that are not positive.
 */
export function resolveCacheRoute(
  context: ExecutionContext,
  reflector: Reflector,
  options: ResolvedCacheOptions,
): CacheRoute {
  const handler = context.getHandler();
  const target = context.getClass();
  const targets = [handler, target];
  const id = `${target.name}.${handler.name}`;
  const vary = [...new Set([...options.vary, ...(reflector.getAllAndOverride(CacheVaryOn, targets) ?? [])])];
  const route: CacheRoute = {
    id,
    shared: reflector.getAllAndOverride(CacheShared, targets) ?? false,
    vary,
    learnedVary: new Set(),
    hostRouted: Reflect.getMetadata(HOST_METADATA, target) !== undefined,
    tags: reflector.getAllAndOverride(CacheTagsOn, targets) ?? [],
    status: (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ?? 200,
    staleWhileRevalidateMs: 0,
    staleIfErrorMs: 0,
    respectResponseCacheControl: false,
  };
  if (reflector.getAllAndOverride(NoCache, targets)) return route;
  const ttl = reflector.getAllAndOverride(CacheTtl, targets) ?? (options.cacheAllGet ? 'default' : undefined);
  if (ttl === undefined) return route;
  const lifetime = cacheLifetimeOf(typeof ttl === 'string' ? options.ttlProfiles[ttl] : ttl);
  if (!lifetime) throw shieldError('invalidCacheTtl', ttl, id, Object.keys(options.ttlProfiles));
  route.ttlMs = lifetime.ttlMs;
  route.staleWhileRevalidateMs = lifetime.staleWhileRevalidateMs;
  route.staleIfErrorMs = lifetime.staleIfErrorMs;
  route.respectResponseCacheControl = lifetime.respectResponseCacheControl;
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, target, handler.name) ?? {}) as Record<string, unknown>;
  const usesRes = Object.keys(args).some((key) => key.startsWith(RESPONSE_PARAM));
  if (usesRes && !Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, target, handler.name)) {
    route.bypassReason = '@Res() handlers write the response themselves';
  } else if (Reflect.getMetadata(SSE_METADATA, handler)) {
    route.bypassReason = 'server-sent events are a stream';
  } else if (Reflect.getMetadata(REDIRECT_METADATA, handler)) {
    // The handler may return the target: a stored body would redirect every caller to the default.
    route.bypassReason = '@Redirect routes answer with a redirect';
  }
  return route;
}
