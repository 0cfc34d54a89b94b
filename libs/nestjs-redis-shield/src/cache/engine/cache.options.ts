import { shieldError } from '../../core/errors.js';
import {
  checkBoolean,
  checkIntegerInRange,
  checkOneOf,
  checkPositiveInteger,
  checkPositiveNumber,
} from '../../core/validators.js';

/** How request `Cache-Control` directives are honoured. */
export type HonorRequestCacheControl = 'never' | 'per-user' | 'always';

/** Default `l1.maxBytes`: 32 MiB per instance. */
export const DEFAULT_L1_MAX_BYTES = 32 * 1024 * 1024;

/**
 * The in-process cache (L1) in front of Redis: encoded entries kept on each instance, so
 * a hit sends no Redis command. On by default (32 MiB, shared entries only). Invalidations
 * reach every instance's L1 through the instance bus; keep it on (any `maxBytes` above 0)
 * on every instance sharing the Redis, since an instance with it off publishes none.
 */
export interface ResponseCacheL1Options {
  /** Most bytes kept on each instance (entries plus bookkeeping). Default 33 554 432 (32 MiB); 0 turns the L1 off. */
  maxBytes?: number;
  /** Keep per-user entries too (default false: shared entries only). */
  perUser?: boolean;
  /**
   * While the instance bus is down (invalidations may be missed), how long an entry is
   * served after it was put in L1, in ms, before it is read from Redis again. Default: the
   * bus's `staleAfterMs` (5000).
   */
  maxAgeWithoutBusMs?: number;
}

/** The L1 options with defaults applied (`maxAgeWithoutBusMs` from the bus once it is known). */
export interface ResolvedL1Options {
  /** Most bytes kept; 0: off. */
  maxBytes: number;
  /** Whether per-user entries are kept. */
  perUser: boolean;
  /** The bound, in ms, on an entry's life in L1 while the bus is (or was) down. */
  maxAgeWithoutBusMs: number;
}

/**
 * A lifetime with stale windows, for `@CacheTtl({ ... })` or a TTL profile. After
 * `ttlSeconds` an entry is stale: within `staleWhileRevalidateSeconds` it is served at
 * once (`X-Cache-Status: STALE`) while one request on one instance refreshes it in the
 * background; within `staleIfErrorSeconds` it is served only when the handler fails
 * (throws, or answers 5xx) or Redis cannot be read.
 */
export interface CacheTtlOptions {
  /** How long an entry is fresh, in seconds (positive). */
  ttlSeconds: number;
  /** After the TTL, how long it is served stale while it is refreshed, in seconds. Default 0. */
  staleWhileRevalidateSeconds?: number;
  /** After the TTL, how long it is served stale when the handler or Redis fails, in seconds. Default 0. */
  staleIfErrorSeconds?: number;
  /**
   * Let the response's own `Cache-Control` set these: `s-maxage` (shared entries) or
   * `max-age` the TTL, `stale-while-revalidate` and `stale-if-error` the windows. Without
   * it a response's `max-age` only shortens the TTL. `no-store`, `no-cache` and `private`
   * always keep their meaning. Default false.
   */
  respectResponseCacheControl?: boolean;
}

/** A route's lifetimes in ms, from seconds or {@link CacheTtlOptions}. */
export interface CacheLifetime {
  ttlMs: number;
  staleWhileRevalidateMs: number;
  staleIfErrorMs: number;
  respectResponseCacheControl: boolean;
}

/** The lifetimes of a TTL in seconds or {@link CacheTtlOptions}; undefined when invalid (non-positive TTL, negative window). */
export function cacheLifetimeOf(ttl: unknown): CacheLifetime | undefined {
  const options: Partial<CacheTtlOptions> =
    typeof ttl === 'number' ? { ttlSeconds: ttl } : typeof ttl === 'object' && ttl !== null ? ttl : {};
  const { ttlSeconds, staleWhileRevalidateSeconds = 0, staleIfErrorSeconds = 0 } = options;
  const respect = options.respectResponseCacheControl ?? false;
  const window = (seconds: unknown) => typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0;
  if (!(typeof ttlSeconds === 'number' && Number.isFinite(ttlSeconds) && ttlSeconds > 0)) return undefined;
  if (!window(staleWhileRevalidateSeconds) || !window(staleIfErrorSeconds) || typeof respect !== 'boolean') {
    return undefined;
  }
  return {
    ttlMs: Math.round(ttlSeconds * 1000),
    staleWhileRevalidateMs: Math.round(staleWhileRevalidateSeconds * 1000),
    staleIfErrorMs: Math.round(staleIfErrorSeconds * 1000),
    respectResponseCacheControl: respect,
  };
}

/** Options of `ResponseCacheModule.forRoot`. Durations in seconds where named so. */
export interface ResponseCacheModuleOptions {
  /** `false` turns caching off: cacheable routes answer `BYPASS`. Default true. */
  enabled?: boolean;
  /**
   * TTL profiles for `@CacheTtl('name')`, in seconds or with stale windows
   * ({@link CacheTtlOptions}); `default` is used by `cacheAllGet`. Default `{ default: 300 }`.
   */
  ttlProfiles?: Record<string, number | CacheTtlOptions>;
  /** Cache every GET route without `@CacheTtl` (with the `default` profile). Default false. */
  cacheAllGet?: boolean;
  /** Part of every key: bump on deploy to drop old shapes. Default `1`. */
  keyVersion?: string;
  /** Larger (uncompressed) bodies are served, not stored. Default 1 048 576. */
  maxEntryBytes?: number;
  /** Bodies of at least this many bytes are stored Brotli-compressed. Default 1024. */
  compressAboveBytes?: number;
  /** Request directives: `per-user` (default) honours them for per-user entries only. */
  honorRequestCacheControl?: HonorRequestCacheControl;
  /** Request headers that split every route's entries (plus each route's `@CacheVary`). */
  vary?: string[];
  /** Response headers stored besides the allowlist (Content-Type, Content-Language, ...). */
  storeHeaders?: string[];
  /**
   * Most stored variants (distinct paths and query strings) per route and scope: per user
   * on per-user routes, per route for shared entries. Further variants answer `BYPASS`, so
   * neither spellings nor query strings can fill Redis; one user's variants never count
   * against another's. Default 1000.
   */
  maxVariants?: number;
  /** @deprecated Use {@link maxVariants} (which counts path variants too). */
  maxQueryVariants?: number;
  /**
   * Key entries by the host the adapter reports (`Host`, or `X-Forwarded-Host` where the
   * adapter trusts the proxy) and its scheme. Default true: one app serving several hosts
   * must not serve one host's response to another. `false` suits one site under several
   * names (`www.` and the bare domain) whose responses never mention the host, at the
   * risk of cache poisoning if one ever does. Routes of a host-routed controller
   * (`@Controller({ host })`) are always keyed by host.
   */
  keyByHost?: boolean;
  /**
   * More of the identity that shapes a per-user response than the user id, e.g. the
   * plan from a JWT: `(user) => [user.plan]`. Part of per-user keys (hashed), so a user
   * whose plan changed gets a fresh entry. Default: the user id alone.
   */
  identityParts?: (user: unknown) => readonly string[] | string | undefined;
  /** How long concurrent misses of one key wait for the first one's result, in ms. Default 5000. */
  followerTimeoutMs?: number;
  /**
   * Longest invalidation pattern in characters (system API, `CacheService.invalidatePattern` /
   * `clearEndpoint`, `@InvalidateCache`); longer ones are refused. Default 256.
   */
  maxPatternLength?: number;
  /** Most `*` in an invalidation pattern; more are refused. Default 16. */
  maxPatternStars?: number;
  /** The id of `request.user`. Default: its `id`, `sub` or `userId`. */
  userId?: (user: unknown) => string | undefined;
  /** The in-process cache in front of Redis. Default on: 32 MiB per instance, shared entries only; `{ maxBytes: 0 }` turns it off. */
  l1?: ResponseCacheL1Options;
  /**
   * Answer fresh hits (from L1 or Redis) at the route, before Nest's guards, interceptors
   * and reply pipeline, on routes where none of those could change the answer: no guard
   * (global, controller or method) but the rate-limit guard, which runs first there as it
   * would in Nest's pipeline (a hit still counts), the cache interceptor registered globally and first of
   * the global interceptors, no `@Header`, `@HttpCode`, `@Redirect`, `@Render`, `@Sse`,
   * `@Res` or `@Next` on the handler. Middleware runs as always; headers and bytes are
   * those of any other hit. Default true; false answers every hit from the interceptor.
   */
  fastPath?: boolean;
}

/** Resolved options with defaults applied. */
export type ResolvedCacheOptions = Required<
  Omit<ResponseCacheModuleOptions, 'userId' | 'identityParts' | 'maxQueryVariants' | 'l1'>
> &
  Pick<ResponseCacheModuleOptions, 'userId' | 'identityParts'> & {
    /** `maxBytes` 0: off. `maxAgeWithoutBusMs` undefined: the bus's `staleAfterMs`. */
    l1: Omit<ResolvedL1Options, 'maxAgeWithoutBusMs'> & { maxAgeWithoutBusMs?: number };
  };

/** Validates options at start-up (throws naming the option) and applies defaults. */
export function resolveCacheOptions(options: ResponseCacheModuleOptions): ResolvedCacheOptions {
  const resolved: ResolvedCacheOptions = {
    enabled: options.enabled ?? true,
    ttlProfiles: { default: 300, ...options.ttlProfiles },
    cacheAllGet: options.cacheAllGet ?? false,
    keyVersion: options.keyVersion ?? '1',
    maxEntryBytes: options.maxEntryBytes ?? 1_048_576,
    compressAboveBytes: options.compressAboveBytes ?? 1024,
    honorRequestCacheControl: options.honorRequestCacheControl ?? 'per-user',
    vary: (options.vary ?? []).map((header) => header.toLowerCase()),
    storeHeaders: (options.storeHeaders ?? []).map((header) => header.toLowerCase()),
    maxVariants: options.maxVariants ?? options.maxQueryVariants ?? 1000,
    keyByHost: options.keyByHost ?? true,
    identityParts: options.identityParts,
    followerTimeoutMs: options.followerTimeoutMs ?? 5000,
    maxPatternLength: options.maxPatternLength ?? 256,
    maxPatternStars: options.maxPatternStars ?? 16,
    userId: options.userId,
    l1: {
      maxBytes: options.l1?.maxBytes ?? DEFAULT_L1_MAX_BYTES,
      perUser: options.l1?.perUser ?? false,
      maxAgeWithoutBusMs: options.l1?.maxAgeWithoutBusMs,
    },
    fastPath: options.fastPath ?? true,
  };
  for (const [name, ttl] of Object.entries(resolved.ttlProfiles)) {
    if (typeof ttl === 'number') checkPositiveNumber(`ttlProfiles.${name}`, ttl, 'seconds');
    else if (!cacheLifetimeOf(ttl)) {
      throw shieldError('invalidOption', `ttlProfiles.${name}`, ttl, 'positive ttlSeconds, non-negative stale windows');
    }
  }
  checkPositiveNumber('maxEntryBytes', resolved.maxEntryBytes, 'bytes');
  checkPositiveNumber('compressAboveBytes', resolved.compressAboveBytes, 'bytes');
  checkPositiveNumber('maxVariants', resolved.maxVariants);
  checkPositiveNumber('followerTimeoutMs', resolved.followerTimeoutMs, 'ms');
  checkPositiveInteger('maxPatternLength', resolved.maxPatternLength);
  checkPositiveInteger('maxPatternStars', resolved.maxPatternStars);
  checkIntegerInRange('l1.maxBytes', resolved.l1.maxBytes, 0);
  checkBoolean('l1.perUser', resolved.l1.perUser);
  checkBoolean('fastPath', resolved.fastPath);
  if (resolved.l1.maxAgeWithoutBusMs !== undefined) {
    checkPositiveNumber('l1.maxAgeWithoutBusMs', resolved.l1.maxAgeWithoutBusMs, 'ms');
  }
  checkOneOf(
    'honorRequestCacheControl',
    resolved.honorRequestCacheControl,
    ['never', 'per-user', 'always'],
    'never, per-user or always',
  );
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(resolved.keyVersion)) {
    throw shieldError('invalidOption', 'keyVersion', resolved.keyVersion, '1-32 of A-Z a-z 0-9 . _ -');
  }
  return resolved;
}
