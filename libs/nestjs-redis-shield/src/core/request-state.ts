import { IncomingMessage } from 'node:http';
import type { Deadline } from './deadline.js';

/**
 * Everything the library remembers about one HTTP request between its parts (the
 * rate-limit guard, the cache interceptor, the facade's accessors used by the
 * application's logging): one object per request, found from the Node request (the same
 * object on Express and Fastify) through {@link requestState}, and gone with the request.
 * A plain Node request holds it under a symbol of its own, as Node's `IncomingMessage`
 * holds its own state (a property no string key and no other module can reach); any
 * other request (Express's) is the key of a `WeakMap`.
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

/**
 * Where a plain Node request holds its state (Fastify's raw request, a bare `http` server's):
 * a symbol of the library's own. Not the `WeakMap` below for those: with one, V8's minor
 * GCs promoted requests in flight, with their state, to the old generation, and a loaded
 * server paid for them in major GCs (the bench's Fastify Redis hit, `bench/gc.mjs`: 357
 * bytes promoted per request with the map, 29 without; a loop that gives young objects a
 * weak-map entry ran 4.7 times as long as the same loop giving them a symbol property).
 */
const STATE = Symbol('nestjs-redis-shield:requestState');

/**
 * The state of every other request: Express's (whose prototype Express replaced, and to
 * which Express and Nest add properties in an order of their own, so that a property
 * added here made every read and write of it a slow, megamorphic access: 3.7 against
 * 0.95 µs of this module's CPU per request on the bench's Express Redis hit, under the
 * profiler; Express promotes its requests to the old generation anyway, see `bench/gc.mjs`),
 * frozen ones, and anything else used as a request.
 */
const states = new WeakMap<object, RequestState>();

type Holder = { [STATE]?: RequestState };

/** Whether `rawRequest` holds its state itself: a plain Node request that can take a property. */
function holdsOwnState(rawRequest: object): boolean {
  return Object.getPrototypeOf(rawRequest) === IncomingMessage.prototype && Object.isExtensible(rawRequest);
}

/**
 * The state of one request, created on first use: every caller with the same Node
 * request gets the same object.
 *
 * @param rawRequest The Node request (`HttpExchange.raw`).
 */
export function requestState(rawRequest: object): RequestState {
  const existing = existingRequestState(rawRequest);
  if (existing !== undefined) return existing;
  const created = new RequestState();
  if (holdsOwnState(rawRequest)) (rawRequest as Holder)[STATE] = created;
  else states.set(rawRequest, created);
  return created;
}

/** The state of a request if any part of the library recorded some; never creates one (for readers). */
export function existingRequestState(rawRequest: object): RequestState | undefined {
  if (Object.getPrototypeOf(rawRequest) === IncomingMessage.prototype) {
    const own = (rawRequest as Holder)[STATE];
    if (own !== undefined) return own;
  }
  return states.get(rawRequest);
}
