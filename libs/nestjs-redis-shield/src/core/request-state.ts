import type { Deadline } from './deadline.js';

/**
 * Everything the library remembers about one HTTP request between its parts (the
 * rate-limit guard, the cache interceptor, the facade's accessors used by the
 * application's logging): one object per request, found from the Node request (the same
 * object on Express and Fastify) through {@link requestState}, and gone with the request.
 * Nothing is written onto the request itself.
 */
export class RequestState {
  /** The matched route's template (`/api/v1/models/:id`), recorded by the rate-limit guard. */
  routeTemplate: string | undefined = undefined;
  /** The client id (`user:42`, `ip:203.0.113.7`) the rate-limit guard keyed the request by. */
  clientId: string | undefined = undefined;
  /** The `X-Cache-Status` (`HIT`, `MISS`, `BYPASS`) the cache interceptor answered. */
  cacheStatus: string | undefined = undefined;
  /**
   * The request's budget of Redis time, shared by every Redis call made for it (created
   * on first use by `requestDeadline`).
   */
  deadline: Deadline | undefined = undefined;
  /**
   * Whether a rate-limit guard already decided the request: a second guard instance (a
   * module imported twice) must not count it again.
   */
  rateLimitDecided = false;
  /**
   * The cache interceptor's lookup of the request (its key material, deadline and the
   * entry read it prefetched), reused when the interceptor runs again for the same
   * request. Opaque here: only the interceptor knows its shape.
   */
  cacheLookup: unknown = undefined;
  /**
   * The cache fast path's slot of the route handler the request reached, while the cache
   * interceptor has yet to learn whether that route's L1 hits may be answered before
   * Nest's guards and interceptors (see `CacheFastPath`). Opaque here.
   */
  cacheRouteSlot: unknown = undefined;
  /**
   * What a guard threw when the cache's fast path ran it before Nest's pipeline (see
   * `PRE_ROUTE_GUARD`): the guard throws it again when Nest's pipeline asks it, so the
   * application's exception filters answer the request.
   */
  guardRejection: unknown = undefined;
}

const states = new WeakMap<object, RequestState>();

/**
 * The state of one request, created on first use: every caller with the same Node
 * request gets the same object.
 *
 * @param rawRequest The Node request (`HttpExchange.raw`).
 */
export function requestState(rawRequest: object): RequestState {
  let state = states.get(rawRequest);
  if (state === undefined) {
    state = new RequestState();
    states.set(rawRequest, state);
  }
  return state;
}

/** The state of a request if any part of the library recorded some; never creates one (for readers). */
export function existingRequestState(rawRequest: object): RequestState | undefined {
  return states.get(rawRequest);
}
