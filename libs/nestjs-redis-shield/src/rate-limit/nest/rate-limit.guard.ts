import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
  type Type,
} from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { HttpAdapterHost, ModulesContainer, Reflector } from '@nestjs/core';
import { applicationControllers, controllerMethods } from '../../core/controllers.js';
import { shieldError } from '../../core/errors.js';
import { RequestPrefetch } from '../../core/events/request-prefetch.js';
import { PRE_ROUTE_GUARD } from '../../core/pre-route-guard.js';
import { requestState } from '../../core/request-state.js';
import { answersOverHttp } from '../../core/http/graphql-exchange.js';
import { type HttpExchange, httpExchange, recordClientId, recordRouteTemplate } from '../../core/http/http-facade.js';
import { whenResponseOver } from '../../core/http/response-over.js';
import { watchClientAddresses } from '../engine/client-addresses.js';
import {
  headerTemplate,
  type HeaderOptions,
  type HeaderTemplate,
  writeRateLimitHeaders,
} from '../engine/rate-limit-headers.js';
import { resolveLoadShedding } from '../engine/load-shedding.js';
import type { RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import type { RateLimitPolicy, RateLimitResult } from '../engine/rate-limit.types.js';
import { ClientIdentity } from './client-identity.js';
import { type GraphqlDecision, GraphqlLimits } from './graphql-limits.js';
import { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit.constants.js';
import { EventLoopShedder } from './load-shedding.js';
import { RateLimitCostOn, type RateLimitCostSpec, ShedUnderLoad, SkipRateLimit } from './rate-limit.decorators.js';
import {
  prefersProblem,
  RateLimitUnavailableException,
  reducedCapacityProblem,
  rejectionOf,
  sheddingRejection,
} from './rate-limit.exceptions.js';
import { RateLimiter } from './rate-limiter.js';
import { watchUpgradeRequests, WebSocketLimits } from './ws-limits.js';

/** What the guard reads of a route's metadata, once per handler. */
interface GuardedRoute {
  controller: object;
  skip: boolean;
  /** `@ShedUnderLoad()`: refused first when the instance is overloaded. */
  shed: boolean;
  cost: RateLimitCostSpec | undefined;
  /** The policies (base names) the cost is charged to; undefined: all of the route's. */
  costPolicies: ReadonlySet<string> | undefined;
  policies: RateLimitPolicy[];
}

/** A bad cost from user code must never make a request free. */
function validCost(cost: number): number {
  return Number.isFinite(cost) && cost >= 1 ? Math.floor(cost) : 1;
}

/** A policy's name without its plan (`default@pro` → `default`). */
function baseName(name: string): string {
  const at = name.indexOf('@');
  return at === -1 ? name : name.slice(0, at);
}

/** The per-policy costs of a request whose cost applies to some policies only. */
function costsOf(
  policies: readonly RateLimitPolicy[],
  charged: ReadonlySet<string>,
  cost: number,
): Record<string, number> {
  const costs: Record<string, number> = {};
  for (const policy of policies) if (charged.has(baseName(policy.name))) costs[policy.name] = cost;
  return costs;
}

/**
 * Limits HTTP requests by the route's policies, WebSocket messages of handlers with
 * `@RateLimit` (see the README's WebSockets section) and GraphQL resolvers per operation
 * or per field (see `graphql-limits.ts`). Registered globally by `RateLimitModule`
 * (extra `guard: false` opts out); other execution contexts (RPC) pass through
 * untouched. Sets the rate-limit headers on every response it
 * lets through or rejects; a rejection is a 429 with `Retry-After`.
 *
 * Options cover most needs (`clientId`, `skip`, `plan`, ...). For what they do not, subclass
 * it and override {@link RateLimitGuard.getTracker | getTracker},
 * {@link RateLimitGuard.generateKey | generateKey} or
 * {@link RateLimitGuard.throwRejection | throwRejection}, then register the subclass with
 * `RateLimitModule.forRoot({ ...options, guard: false })` and
 * `{ provide: APP_GUARD, useClass: MyGuard }`.
 *
 * @example
 * class TenantGuard extends RateLimitGuard {
 *   protected override getTracker(context: ExecutionContext) {
 *     return `tenant:${context.switchToHttp().getRequest().headers['x-tenant'] ?? 'none'}`;
 *   }
 * }
 */
@Injectable()
export class RateLimitGuard implements CanActivate, OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private readonly headerOptions: HeaderOptions | false;
  private readonly routes = new WeakMap<object, GuardedRoute>();
  /** The draft headers' fixed part, once per policy set. */
  private readonly templates = new WeakMap<readonly RateLimitPolicy[], HeaderTemplate>();
  /** WebSocket messages, made on the first one (most applications have no gateway). */
  private webSockets?: WebSocketLimits;
  /** GraphQL resolvers, limited through this guard's steps; made on the first one. */
  private graphql: GraphqlLimits<GuardedRoute> | undefined;
  /** The `loadShedding` option at work (from start-up to shutdown); none without it. */
  private shedder: EventLoopShedder | undefined;

  /** @internal Instantiated by Nest; register the guard through `RateLimitModule`. */
  constructor(
    private readonly reflector: Reflector,
    /** Who is calling and what applies to them (the module's options), shared with the system API. */
    private readonly identity: ClientIdentity,
    /** The one way into the counters: block cache, store, fallback, events. */
    private readonly limiter: RateLimiter,
    @Inject(RATE_LIMIT_MODULE_OPTIONS) private readonly options: RateLimitModuleOptions,
    @Optional() private readonly prefetch?: RequestPrefetch,
    @Optional() private readonly modules?: ModulesContainer,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.headerOptions = options.headers === false ? false : options.headers === true ? {} : (options.headers ?? {});
    // The cache's fast path may run this guard before Nest's pipeline; never a subclass,
    // whose overrides may decide otherwise (see PRE_ROUTE_GUARD).
    if (new.target === RateLimitGuard) Object.defineProperty(this, PRE_ROUTE_GUARD, { value: true });
  }

  /**
   * Resolves the policies of every route of the application once, at start-up: a bad
   * `@RateLimit` fails the start, and every route's inline policy is known to the
   * registry, so a client's reset reaches its buckets on routes this instance never served.
   */
  onModuleInit(): void {
    if (this.options.loadShedding && !this.options.disabled && !this.shedder) {
      this.shedder = new EventLoopShedder(resolveLoadShedding(this.options.loadShedding));
    }
    if (!this.modules) return;
    for (const controller of applicationControllers(this.modules)) {
      for (const [, handler] of controllerMethods(controller)) {
        if (Reflect.getMetadata(PATH_METADATA, handler) !== undefined) this.routeOf(controller, handler);
      }
    }
  }

  /** Stops the load shedder's timer and event-loop histogram. */
  onModuleDestroy(): void {
    this.shedder?.stop();
    this.shedder = undefined;
  }

  /**
   * Runs after the application configured its adapter (trust proxy) and before the server
   * listens: remembers each connection's address as it opens, and warns once when clients
   * can choose their own address (every proxy trusted) or have none (a Unix socket).
   */
  onApplicationBootstrap(): void {
    if (this.options.disabled) return;
    watchClientAddresses(this.adapterHost?.httpAdapter, this.logger);
    watchUpgradeRequests(this.adapterHost?.httpAdapter);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() === 'ws') return this.webSocketLimits().canActivate(context);
    if (context.getType<string>() === 'graphql') return (this.graphql ??= this.graphqlLimits()).canActivate(context);
    if (context.getType() !== 'http') return true;
    const exchange = httpExchange(context);
    recordRouteTemplate(exchange);
    if (this.options.disabled) return true;
    // A request already decided (by the cache's fast path, or another guard instance of a
    // module imported twice) is not counted again; a rejection decided there is thrown here.
    const state = requestState(exchange.raw);
    if (state.rateLimitDecided) {
      if (state.guardRejection !== undefined) throw state.guardRejection;
      return true;
    }
    state.rateLimitDecided = true;
    const route = this.routeOf(context.getClass(), context.getHandler());
    // Before anything that costs (user hooks, Redis): an overloaded instance refuses what can wait.
    if (route.shed && this.shedder?.overloaded()) {
      throw sheddingRejection(
        this.shedder.options.retryAfterSeconds,
        (name, value) => exchange.setHeader(name, value),
        {
          problem: prefersProblem(exchange.header('accept')),
        },
      );
    }
    if (route.skip) return true;
    const exempt = this.identity.exempt(context, exchange);
    if (exempt === true || (exempt !== false && (await exempt))) return true;

    // Each of these awaits only when a user hook returned a promise: no extra ticks per request.
    const tracker = this.getTracker(context, exchange);
    const id = this.generateKey(context, typeof tracker === 'string' ? tracker : await tracker);
    recordClientId(exchange.raw, id);
    const selected = this.identity.policiesFor(context, exchange, route.policies);
    const policies = Array.isArray(selected) ? selected : await selected;
    const weighed = this.costOf(context, exchange, route.cost);
    const weight = typeof weighed === 'number' ? weighed : await weighed;
    // A cost for some policies only: the others count the request once.
    const cost = route.costPolicies ? 1 : weight;
    const policyCosts = route.costPolicies && costsOf(policies, route.costPolicies, weight);
    // The cache read (if the route is cached) goes out right behind the script: one round trip for both.
    const { result, release } = await this.limiter
      .consume({
        request: exchange.raw,
        route: exchange.routeTemplate,
        clientId: id,
        policies,
        cost,
        policyCosts,
        beforeStore: () => this.prefetch?.run(context),
        holdSlots: true,
      })
      .catch((error: unknown) => {
        // Closed mode: the 503 as problem details when the client prefers them.
        if (error instanceof RateLimitUnavailableException && prefersProblem(exchange.header('accept'))) {
          throw reducedCapacityProblem(error, (name, value) => exchange.setHeader(name, value));
        }
        throw error;
      });

    this.setHeaders(exchange, policies, result, id);
    // Once the response is over: sent, or its client gone (perhaps already).
    if (release) whenResponseOver(exchange.rawResponse, release, release);
    if (result.allowed) return true;
    return this.throwRejection(context, exchange, result, policyCosts?.[result.policy] ?? cost);
  }

  /**
   * The client id of an IP address (a raw one, as an admin types it) under this module's
   * `ipv6Subnet`: `ip:<normalised>`, or `ip:unknown` when it is not an address.
   */
  clientIdOfAddress(address: string): string {
    return this.identity.ofAddress(address);
  }

  /**
   * Override to choose who a request is counted for (the tracker, as in @nestjs/throttler):
   * default the `clientId` option, else `user:<id>`, else `ip:<address>`. Keep a `kind:`
   * prefix (`tenant:…`): it is how the violation stream and the status endpoint name the
   * client kind. Only this guard sees the override; the `clientId` option changes the id
   * for the system API and `RateLimitService` callers too.
   */
  protected getTracker(context: ExecutionContext, exchange: HttpExchange): string | Promise<string> {
    return this.identity.clientId(context, exchange);
  }

  /**
   * Override to turn the tracker into the id the buckets are keyed by (e.g. to scope
   * clients per tenant or per API version); default the tracker itself. The store hashes
   * the result before it reaches a key.
   */
  protected generateKey(context: ExecutionContext, tracker: string): string {
    return tracker;
  }

  /**
   * Override to answer a rejected request your own way (another body or status, a log
   * line); it must throw. Default: the documented 429 with `Retry-After`, or the 429 of a
   * cost above a tier's limit. The rate-limit headers are already set.
   *
   * @param result The rejected decision (its `policy`, `tier`, `retryAfterMs`, every tier).
   * @param cost What the request cost in the rejecting tier's policy.
   */
  protected throwRejection(
    context: ExecutionContext,
    exchange: HttpExchange,
    result: RateLimitResult,
    cost: number,
  ): never {
    throw rejectionOf(result, cost, (name, value) => exchange.setHeader(name, value), {
      problem: prefersProblem(exchange.header('accept')),
    });
  }

  /** What the guard needs of a route, resolved once per handler (and class). */
  private routeOf(controller: Type, handler: object): GuardedRoute {
    const known = this.routes.get(handler);
    // One handler may serve several controller classes (inherited methods): keyed by both.
    if (known?.controller === controller) return known;
    const policies = this.identity.routePolicies(controller, handler);
    const cost = this.reflector.getAllAndOverride(RateLimitCostOn, [handler as Type, controller]);
    const costPolicies = cost?.policies && new Set(cost.policies);
    for (const name of costPolicies ?? []) {
      if (!policies.some((policy) => baseName(policy.name) === name)) {
        throw shieldError(
          'invalidCostPolicy',
          `${controller.name}.${(handler as { name: string }).name}`,
          name,
          policies.map((policy) => policy.name),
        );
      }
    }
    const route: GuardedRoute = {
      controller,
      skip: this.reflector.getAllAndOverride(SkipRateLimit, [handler as Type, controller]) ?? false,
      shed: this.reflector.getAllAndOverride(ShedUnderLoad, [handler as Type, controller]) ?? false,
      cost: cost?.spec,
      costPolicies,
      policies,
    };
    this.routes.set(handler, route);
    return route;
  }

  /** The limits of WebSocket messages, made on the first one. */
  private webSocketLimits(): WebSocketLimits {
    return (this.webSockets ??= new WebSocketLimits(
      this.reflector,
      this.identity,
      this.limiter,
      this.options,
      this.adapterHost?.httpAdapter,
    ));
  }

  /** The GraphQL limiter (graphql-limits.ts), deciding with this guard's route metadata, identity and limiter. */
  private graphqlLimits(): GraphqlLimits<GuardedRoute> {
    return new GraphqlLimits(this.reflector, {
      disabled: this.options.disabled === true,
      route: (controller, handler) => this.routeOf(controller as Type, handler),
      decide: (context, exchange, route, template) => this.decideGraphql(context, exchange, route, template),
    });
  }

  /**
   * One GraphQL operation or field, counted as {@link canActivate} counts an HTTP request:
   * exemptions, the tracker (overrides included), the plan's policies, the cost (a cost
   * function reads the operation from the GraphQL context: `context.getArgs()[3]` is its
   * `info`), one store call, the headers. Undefined when exempt.
   */
  private async decideGraphql(
    context: ExecutionContext,
    exchange: HttpExchange,
    route: GuardedRoute,
    template: string,
  ): Promise<GraphqlDecision | undefined> {
    if (await this.identity.exempt(context, exchange)) return undefined;
    const id = this.generateKey(context, await this.getTracker(context, exchange));
    recordClientId(exchange.raw, id);
    const policies = await this.identity.policiesFor(context, exchange, route.policies);
    const weight = await this.costOf(context, exchange, route.cost);
    const cost = route.costPolicies ? 1 : weight;
    const policyCosts = route.costPolicies && costsOf(policies, route.costPolicies, weight);
    const { result } = await this.limiter.consume({
      request: exchange.raw,
      route: template,
      clientId: id,
      policies,
      cost,
      policyCosts,
      // A subscription's upgrade request lives as long as its socket: each decision gets its own budget.
      deadline: answersOverHttp(exchange) ? undefined : this.limiter.ownDeadline(),
    });
    this.setHeaders(exchange, policies, result, id);
    return { result, cost: policyCosts?.[result.policy] ?? cost };
  }

  /**
   * The rate-limit headers of a decision, unless turned off: the draft fields' fixed part
   * built once per policy set, the client's partition key when asked for.
   */
  private setHeaders(exchange: HttpExchange, policies: RateLimitPolicy[], result: RateLimitResult, id: string): void {
    if (!this.headerOptions) return;
    let template = this.templates.get(policies);
    if (!template) this.templates.set(policies, (template = headerTemplate(policies)));
    const partitionKey = this.headerOptions.partitionKey ? this.limiter.partitionKey(id) : undefined;
    writeRateLimitHeaders(exchange, result, this.headerOptions, template, partitionKey);
  }

  private costOf(
    context: ExecutionContext,
    exchange: HttpExchange,
    spec: RateLimitCostSpec | undefined,
  ): number | Promise<number> {
    if (typeof spec === 'number') return validCost(spec);
    if (spec) return Promise.resolve(spec(context)).then(validCost);
    if (this.options.cost)
      return Promise.resolve(this.options.cost(context, exchange)).then((cost) => validCost(cost ?? 1));
    return 1;
  }
}
