import type { HttpExchange } from '../../core/http/http-facade.js';
import type { CacheRoute } from '../nest/cache-route.js';

/** Who may share a cached response: everyone, one user, or nobody (not cached). */
export type CacheScope =
  | {
      readonly kind: 'shared';
      /** Part of the key and of the variant index: `shared`. */
      readonly key: 'shared';
    }
  | {
      readonly kind: 'user';
      /** Part of the key: `user:<HMAC of the user id>`, never the raw id. */
      readonly key: string;
      /** The raw user id (for the user's index, which hashes it). */
      readonly userId: string;
    }
  | {
      readonly kind: 'bypass';
      /** Why this request is neither shared nor keyed to a user. */
      readonly reason: BypassReason;
    };

/** A scope under which a request reads and writes entries (never `bypass`). */
export type KeyedScope = Exclude<CacheScope, { kind: 'bypass' }>;

/** Why a request on a per-user route cannot be cached. */
export type BypassReason = 'user-without-id' | 'credentials-without-user';

const SHARED: CacheScope = { kind: 'shared', key: 'shared' };

/**
 * The scope of a request's entry, decided from the identity the handler will see, so
 * call it after every guard ran (the interceptor does). On a route that is not
 * `@CacheShared()`:
 * - a `request.user` with an id (the `userId` option's, default `id`, `sub` or
 *   `userId`) → that user's own entries;
 * - a `request.user` without such an id → `bypass`: keying it as anonymous would
 *   give every such user one shared entry;
 * - no user, but `Authorization` or `Cookie` → `bypass`: the response may depend on
 *   credentials the library cannot see (a route that forwards the token, an
 *   authentication that runs after the interceptor);
 * - otherwise anonymous → `shared`.
 *
 * A per-user key is `user:<HMAC of the id>`, followed by `:<HMAC of the id and the parts>`
 * when `identity.parts` adds more of the identity (a plan, a tenant).
 *
 * @param identity How to read the user id and extra identity parts of `request.user`,
 *   and `hash`, which turns a raw value into the HMAC the key carries.
 */
export function resolveScope(
  exchange: HttpExchange,
  route: CacheRoute,
  identity: {
    userId: (user: unknown) => string | undefined;
    parts?: (user: unknown) => readonly string[] | string | undefined;
    hash: (value: string) => string;
  },
): CacheScope {
  if (route.shared) return SHARED;
  const user = exchange.user;
  if (user !== undefined && user !== null && user !== false) {
    const userId = identity.userId(user);
    if (userId === undefined) return { kind: 'bypass', reason: 'user-without-id' };
    const key = `user:${identity.hash(`user:${userId}`)}`;
    const parts = identity.parts?.(user);
    if (parts === undefined || parts.length === 0) return { kind: 'user', key, userId };
    const extra = JSON.stringify([userId, ...(typeof parts === 'string' ? [parts] : parts)]);
    return { kind: 'user', key: `${key}:${identity.hash(`identity:${extra}`)}`, userId };
  }
  if (exchange.header('authorization') !== undefined || exchange.header('cookie') !== undefined) {
    return { kind: 'bypass', reason: 'credentials-without-user' };
  }
  return SHARED;
}

/** The start-up-once warning for a {@link BypassReason}, naming what to change. */
export function bypassWarning(routeId: string, reason: BypassReason): string {
  return reason === 'user-without-id'
    ? `${routeId} is cached per user, but request.user has no id the userId option can derive ` +
        `(default: its id, sub or userId): such requests answer BYPASS. Set ResponseCacheModule's userId option.`
    : `${routeId} is cached per user, but a request carries Authorization or Cookie without request.user: ` +
        'such requests answer BYPASS. Authenticate before the cache interceptor (middleware or a guard), ' +
        'or mark the route @CacheShared() if every caller gets the same response.';
}
