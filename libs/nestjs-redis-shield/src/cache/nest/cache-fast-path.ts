import { type ExecutionContext, Logger, type NestInterceptor, type Type } from '@nestjs/common';
import {
  GUARDS_METADATA,
  HEADERS_METADATA,
  HTTP_CODE_METADATA,
  METHOD_METADATA,
  REDIRECT_METADATA,
  RENDER_METADATA,
  ROUTE_ARGS_METADATA,
  SSE_METADATA,
} from '@nestjs/common/constants.js';
import type { AbstractHttpAdapter, ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { isPreRouteGuard, type PreRouteGuard } from '../../core/pre-route-guard.js';
import { exchangeOf, type HttpExchange } from '../../core/http/http-facade.js';
import { existingRequestState, requestState } from '../../core/request-state.js';
import type { CacheRoute } from './cache-route.js';

/**
 * What the cache interceptor answers for a request reaching a fast route: the body to
 * send (its headers already set on the response), or undefined to let Nest run the route
 * as usual (no fresh entry, a conditional request, anything unusual), or {@link FAST_SENT}
 * when it ended the response itself; a promise of one of these when it had to read Redis.
 */
/** What a {@link FastAnswer} returns when it ended the response itself. */
export const FAST_SENT = Symbol('sent');

export type FastAnswer = (exchange: HttpExchange, route: CacheRoute, request: unknown) => unknown;

/**
 * What the fast path knows of one route handler Nest registered: `unknown` until the
 * cache interceptor has seen a request of it, then `fast` (with the route) when nothing
 * between the route and the interceptor can change a cached answer, else `slow` for good.
 */
interface RouteSlot {
  phase: 'unknown' | 'fast' | 'slow';
  route?: CacheRoute;
  /** The route's controller and handler, for the execution context its guards get. */
  controller?: Type;
  handler?: Function; // eslint-disable-line @typescript-eslint/no-unsafe-function-type -- what ExecutionContext.getHandler gives
  /** The guards to run before answering (see `PRE_ROUTE_GUARD`), in Nest's order. */
  guards?: readonly PreRouteGuard[];
}

type RouteHandler = (this: unknown, ...args: unknown[]) => unknown;

/** Adapters already wrapped, so two cache modules in one application wrap their routes once. */
const wrappedAdapters = new WeakSet<object>();

/** Route-argument kinds that hand the handler the response (`@Res()`, `@Next()`): Nest then never replies itself. */
const RESPONSE_ARGUMENTS = new Set(['1', '2']);

/**
 * Answers cache hits at the route itself, before Nest's guard, interceptor and reply
 * pipeline, which costs more per request than an L1 hit does. Every middleware has run by
 * then (the fast path sits on the route, not in front of the router), and it is used only
 * on routes where what it skips could not have changed the answer: no guard (global,
 * controller or method) but those marked `PRE_ROUTE_GUARD` (the rate-limit guard), which
 * it runs first with the context Nest would build, the cache interceptor first of the global interceptors
 * (interceptors after it never run on a hit), no `@Header`, `@HttpCode`, `@Redirect`,
 * `@Render`, `@Sse`, `@Res` or `@Next` on the handler. Which routes qualify is learned from
 * the first request of each that reaches the interceptor; until then, and on every other
 * route, requests take Nest's path. Only plain GETs with a fresh entry (in L1, else read
 * from Redis) are answered here (no `If-None-Match`, no body): headers and bytes are those
 * of a hit answered by the interceptor, written through the adapter's own `reply`. Any
 * other outcome continues on Nest's path, which reuses the Redis read.
 *
 * It wraps the GET handlers Nest registers on the HTTP adapter (`adapter.get`), so it is
 * installed when the adapter is known and before the routes are registered.
 */
export class CacheFastPath {
  private readonly logger = new Logger('ResponseCache');
  private answer: FastAnswer | undefined;
  private interceptor: NestInterceptor | undefined;
  private adapter: AbstractHttpAdapter | undefined;

  constructor(
    adapterHost: HttpAdapterHost | undefined,
    private readonly appConfig: ApplicationConfig | undefined,
    enabled: boolean,
  ) {
    if (!enabled || !adapterHost || !appConfig) return;
    // Replayed at once when the adapter is already set (NestFactory); later for a testing module.
    adapterHost.init$.subscribe(() => this.install(adapterHost.httpAdapter));
  }

  /** The interceptor and its answer for fast routes; without them, every request takes Nest's path. */
  serveWith(interceptor: NestInterceptor, answer: FastAnswer): void {
    this.interceptor = interceptor;
    this.answer = answer;
  }

  /**
   * Called by the interceptor for each cacheable GET it sees: settles the slot of the
   * route the request came through, if it is still unknown. Cheap once every route is known.
   */
  learn(exchange: HttpExchange, context: ExecutionContext, route: CacheRoute): void {
    const state = existingRequestState(exchange.raw);
    const slot = state?.cacheRouteSlot as RouteSlot | undefined;
    if (!slot || slot.phase !== 'unknown') return;
    state!.cacheRouteSlot = undefined;
    if (this.qualifies(context, route)) {
      slot.route = route;
      slot.controller = context.getClass();
      slot.handler = context.getHandler();
      slot.guards = this.appConfig!.getGlobalGuards() as PreRouteGuard[];
      slot.phase = 'fast';
    } else slot.phase = 'slow';
  }

  private install(adapter: AbstractHttpAdapter | undefined): void {
    if (!adapter || wrappedAdapters.has(adapter) || typeof adapter.get !== 'function') return;
    wrappedAdapters.add(adapter);
    this.adapter = adapter;
    const register = adapter.get as (...args: unknown[]) => unknown;
    const wrap = (handler: RouteHandler): RouteHandler => this.wrap(handler);
    // Own property on this adapter instance only: other applications' adapters are untouched.
    adapter.get = function (this: unknown, ...args: unknown[]) {
      const handler = args[1];
      // Nest's route handlers carry their method's metadata (copied by the router explorer).
      if (args.length === 2 && typeof handler === 'function' && Reflect.hasMetadata(METHOD_METADATA, handler)) {
        args[1] = wrap(handler as RouteHandler);
      }
      return register.apply(this, args);
    } as AbstractHttpAdapter['get'];
  }

  private wrap(handler: RouteHandler): RouteHandler {
    const slot: RouteSlot = { phase: 'unknown' };
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fastPath = this;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      if (slot.phase === 'fast') {
        const served = fastPath.serve(slot, args);
        if (served === true) return undefined;
        if (served !== false) return served.then((done) => (done ? undefined : handler.apply(this, args)));
      } else if (slot.phase === 'unknown') {
        // Settled at once when the whole application rules it out (a global guard, say).
        if (fastPath.appWide()) requestState(exchangeOf(args[0], args[1]).raw).cacheRouteSlot = slot;
        else slot.phase = 'slow';
      }
      return handler.apply(this, args);
    };
    // The adapter reads route options (version, Fastify config) from the handler's metadata and properties.
    for (const key of Reflect.getMetadataKeys(handler)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, handler), wrapped);
    }
    Object.assign(wrapped, handler);
    Object.defineProperty(wrapped, 'name', { configurable: true, value: handler.name });
    return wrapped;
  }

  /**
   * True (or a promise of true) when the request was answered here. A failure leaves it to
   * Nest's path (its filters, its logs).
   */
  private serve(slot: RouteSlot, args: unknown[]): boolean | Promise<boolean> {
    if (!this.answer || !this.adapter) return false;
    const [request, response] = args;
    if (slot.guards!.length === 0) return this.answered(slot.route!, request, response);
    // The guards first (the rate limit counts a hit too); their headers are on the response.
    return this.guarded(slot, args).then((allowed) => allowed && this.answered(slot.route!, request, response));
  }

  private answered(route: CacheRoute, request: unknown, response: unknown): boolean | Promise<boolean> {
    try {
      const answer = this.answer!(exchangeOf(request, response), route, request);
      if (answer instanceof Promise) {
        return answer.then(
          (body) => this.reply(route, response, body),
          (error: unknown) => this.failed(route, error),
        );
      }
      return this.reply(route, response, answer);
    } catch (error) {
      return this.failed(route, error);
    }
  }

  private reply(route: CacheRoute, response: unknown, body: unknown): boolean {
    if (body === undefined) return false;
    if (body === FAST_SENT) return true;
    try {
      this.adapter!.reply(response, body, 200);
      return true;
    } catch (error) {
      return this.failed(route, error);
    }
  }

  private failed(route: CacheRoute, error: unknown): false {
    this.logger.warn(`fast path of ${route.id} failed, answered by Nest instead: ${String(error)}`);
    return false;
  }

  /**
   * Runs the route's guards as Nest would (same arguments, same context): true when every
   * one allowed. A rejection is kept in the request state, and Nest's path, which runs
   * them again, answers it through the application's exception filters.
   */
  private async guarded(slot: RouteSlot, args: unknown[]): Promise<boolean> {
    const context = new ExecutionContextHost(args, slot.controller, slot.handler);
    context.setType('http');
    try {
      for (const guard of slot.guards!) if (!(await guard.canActivate(context))) return false;
      return true;
    } catch (error) {
      requestState(exchangeOf(args[0], args[1]).raw).guardRejection = error;
      return false;
    }
  }

  /**
   * Whether the application as a whole lets some route be served here: no global guard
   * but those the fast path may run itself (the rate-limit guard), the cache interceptor
   * the first global interceptor.
   */
  private appWide(): boolean {
    const config = this.appConfig!;
    if (!this.answer || !config.getGlobalGuards().every(isPreRouteGuard)) return false;
    if (config.getGlobalRequestGuards().length > 0) return false;
    return config.getGlobalInterceptors()[0] === this.interceptor;
  }

  /** Whether nothing Nest runs before the interceptor could change a cached answer of the route. */
  private qualifies(context: ExecutionContext, route: CacheRoute): boolean {
    const handler = context.getHandler();
    if (route.ttlMs === undefined || route.bypassReason || !this.appWide()) return false;
    if (hasEntries(Reflect.getMetadata(GUARDS_METADATA, context.getClass()))) return false;
    if (hasEntries(Reflect.getMetadata(GUARDS_METADATA, handler))) return false;
    if (hasEntries(Reflect.getMetadata(HEADERS_METADATA, handler))) return false;
    const code = Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined;
    if (code !== undefined && code !== 200) return false;
    for (const key of [REDIRECT_METADATA, RENDER_METADATA, SSE_METADATA]) {
      if (Reflect.getMetadata(key, handler) !== undefined) return false;
    }
    const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, context.getClass(), handler.name) ?? {}) as object;
    return !Object.keys(args).some((key) => RESPONSE_ARGUMENTS.has(key.split(':')[0]));
  }
}

function hasEntries(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}
