import type { CanActivate } from '@nestjs/common';

/**
 * Marks a guard instance the response cache's fast path may run itself, at the route and
 * before Nest's pipeline, with the same execution context Nest would build: a guard that
 * only ever allows (true) or throws, keeps what it decided in the request state, and on
 * being asked again by Nest's pipeline answers the same (rethrows the rejection the fast
 * path recorded in `RequestState.guardRejection`). The rate-limit guard is one, never a
 * subclass of it (an override may decide otherwise).
 */
export const PRE_ROUTE_GUARD = Symbol('nestjs-redis-shield.preRouteGuard');

/** A guard marked with {@link PRE_ROUTE_GUARD}. */
export interface PreRouteGuard extends CanActivate {
  readonly [PRE_ROUTE_GUARD]: true;
}

/** Whether a guard instance may be run by the fast path (see {@link PRE_ROUTE_GUARD}). */
export function isPreRouteGuard(guard: unknown): guard is PreRouteGuard {
  return typeof guard === 'object' && guard !== null && (guard as Partial<PreRouteGuard>)[PRE_ROUTE_GUARD] === true;
}
