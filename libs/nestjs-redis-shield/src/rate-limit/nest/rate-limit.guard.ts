import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
  Optional,
  type Type,
} from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { HttpAdapterHost, ModulesContainer, Reflector } from '@nestjs/core';
import { applicationControllers, controllerMethods } from '../../core/controllers.js';
import type { IncomingMessage } from 'node:http';
import { messages } from '../../core/errors.js';
import { RequestPrefetch } from '../../core/events/request-prefetch.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { type HttpExchange, httpExchange, recordClientId, recordRouteTemplate } from '../../core/http/http-facade.js';
import { watchClientAddresses } from '../engine/client-addresses.js';
import {
  boundedClientId,
  defaultUserId,
  IpAllowlist,
  ipClientId,
  normalizeIp,
  userClientId,
} from '../engine/client-id.js';
import { PolicyRegistry } from '../engine/policy.js';
import { RateLimit, RateLimitCostOn, type RateLimitCostSpec, SkipRateLimit } from './rate-limit.decorators.js';
import { CostExceedsLimitException, RateLimitExceededException } from './rate-limit.exceptions.js';
import {
  headerTemplate,
  type HeaderOptions,
  type HeaderTemplate,
  rateLimitHeaders,
  resetUnixSeconds,
  waitSeconds,
} from '../engine/rate-limit-headers.js';
import { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit.constants.js';
import type { RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import type { RateLimitPolicy } from '../engine/rate-limit.types.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import { resolveRoutePolicies } from './route-policies.js';

/** What the guard reads of a route's metadata, once per handler. */
interface GuardedRoute {
  controller: object;
  skip: boolean;
  cost: RateLimitCostSpec | undefined;
  /** The policies (base names) the cost is charged to; undefined: all of the route's. */
  costPolicies: ReadonlySet<string> | undefined;
  policies: RateLimitPolicy[];
}

/** A bad cost from user code must never make a request free. */
function validCost(cost: number): number {
  return Number.isFinite(cost) && cost >= 1 ? Math.floor(cost) : 1;
}

/**
 * The 429 of a rejected request, built without capturing a stack trace: a rejection is
 * control flow, never a bug, and the trace cost 6 % of a flood's CPU (bench/profile.mjs
 * shield-flood). Exceptions users create themselves keep theirs.
 */
function rejection(resetTime: number, retryAfter: number): RateLimitExceededException {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new RateLimitExceededException(resetTime, retryAfter);
  } finally {
    Error.stackTraceLimit = limit;
  }
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

/** Requests already decided: a second guard instance (module imported twice) must not count again. */
const decided = new WeakSet<IncomingMessage>();

/**
 * Limits HTTP requests by the route's policies. Registered globally by
 * `RateLimitModule` (extra `guard: false` opts out); other execution contexts (RPC,
 * WebSockets) pass through untouched. Sets the rate-limit headers on every response it
 * lets through or rejects; a rejection is a 429 with `Retry-After`.
 */
@Injectable()
export class RateLimitGuard implements CanActivate, OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger('RateLimit');
  private readonly allowlist: IpAllowlist;
  private readonly headerOptions: HeaderOptions | false;
  private readonly routes = new WeakMap<object, GuardedRoute>();
  /** Each route's policies as a plan selects them, built once per (route, plan). */
  private readonly planPolicies = new WeakMap<RateLimitPolicy[], Map<string, RateLimitPolicy[]>>();
  /** The draft headers' fixed part, once per policy set. */
  private readonly templates = new WeakMap<readonly RateLimitPolicy[], HeaderTemplate>();
  private warnedForwardedFor = false;
  private warnedNotAnIp = false;
  private warnedNoAddress = false;

  /** @internal Instantiated by Nest; register the guard through `RateLimitModule`. */
  constructor(
    private readonly reflector: Reflector,
    private readonly registry: PolicyRegistry,
    private readonly limiter: RateLimiter,
    private readonly events: ShieldEvents,
    @Inject(RATE_LIMIT_MODULE_OPTIONS) private readonly options: RateLimitModuleOptions,
    @Optional() private readonly prefetch?: RequestPrefetch,
    @Optional() private readonly modules?: ModulesContainer,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.allowlist = new IpAllowlist(options.allowlist ?? []);
    this.headerOptions = options.headers === false ? false : options.headers === true ? {} : (options.headers ?? {});
  }

  /**
   * Resolves the policies of every route of the application once, at start-up: a bad
   * `@RateLimit` fails the start, and every route's inline policy is known to the
   * registry, so a client's reset reaches its buckets on routes this instance never served.
   */
  onModuleInit(): void {
    if (!this.modules) return;
    for (const controller of applicationControllers(this.modules)) {
      for (const [, handler] of controllerMethods(controller)) {
        if (Reflect.getMetadata(PATH_METADATA, handler) !== undefined) this.routeOf(controller, handler);
      }
    }
  }

  /**
   * Runs after the application configured its adapter (trust proxy) and before the server
   * listens: remembers each connection's address as it opens, and warns once when clients
   * can choose their own address (every proxy trusted) or have none (a Unix socket).
   */
  onApplicationBootstrap(): void {
    if (this.options.disabled) return;
    watchClientAddresses(this.adapterHost?.httpAdapter, this.logger);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const exchange = httpExchange(context);
    recordRouteTemplate(exchange);
    if (this.options.disabled || decided.has(exchange.raw)) return true;
    decided.add(exchange.raw);
    const route = this.routeOf(context.getClass(), context.getHandler());
    if (route.skip) return true;
    if (this.allowlist.has(exchange.ip)) return true;
    if (this.options.skip && (await this.options.skip(context, exchange))) return true;

    // Each of these awaits only when a user hook returned a promise: no extra ticks per request.
    const clientId = this.clientIdOf(context, exchange);
    const id = typeof clientId === 'string' ? clientId : await clientId;
    recordClientId(exchange.raw, id);
    const selected = this.policiesFor(context, exchange, route.policies);
    const policies = Array.isArray(selected) ? selected : await selected;
    const weighed = this.costOf(context, exchange, route.cost);
    const weight = typeof weighed === 'number' ? weighed : await weighed;
    // A cost for some policies only: the others count the request once.
    const cost = route.costPolicies ? 1 : weight;
    const policyCosts = route.costPolicies && costsOf(policies, route.costPolicies, weight);
    // The cache read (if the route is cached) goes out right behind the script: one round trip for both.
    const { result, fallback } = await this.limiter.consume(exchange.raw, id, policies, cost, policyCosts, () =>
      this.prefetch?.run(context),
    );

    if (this.headerOptions) {
      let template = this.templates.get(policies);
      if (!template) this.templates.set(policies, (template = headerTemplate(policies)));
      for (const [name, value] of Object.entries(rateLimitHeaders(result, this.headerOptions, template)))
        exchange.setHeader(name, value);
    }
    this.events.emit('ratelimit.decision', { clientId: id, route: exchange.routeTemplate, result, fallback });
    if (result.allowed) return true;
    if (result.costExceedsLimit) {
      throw new CostExceedsLimitException(result, policyCosts?.[result.policy] ?? cost, result.limit);
    }
    const retryAfter = waitSeconds(result.retryAfterMs);
    exchange.setHeader('Retry-After', String(retryAfter));
    throw rejection(resetUnixSeconds(result), retryAfter);
  }

  /**
   * The client id and policies this guard applies to a request, without counting: for
   * endpoints that report a caller's own standing (`/rate-limit/status`).
   */
  async identify(context: ExecutionContext): Promise<{
    /** The raw client id (the `clientId` option's, else `user:<id>` or `ip:<address>`), before hashing. */
    clientId: string;
    /** The policies that apply to this client on this route (plan variants resolved). */
    policies: RateLimitPolicy[];
  }> {
    const exchange = httpExchange(context);
    return {
      clientId: await this.clientIdOf(context, exchange),
      policies: await this.policiesFor(
        context,
        exchange,
        this.routeOf(context.getClass(), context.getHandler()).policies,
      ),
    };
  }

  private clientIdOf(context: ExecutionContext, exchange: HttpExchange): string | Promise<string> {
    if (this.options.clientId) {
      // Bounded here, before the memo, the local caches or the events see the id.
      return Promise.resolve(this.options.clientId(context, exchange)).then((custom) =>
        custom ? boundedClientId(custom) : this.defaultClientId(exchange),
      );
    }
    return this.defaultClientId(exchange);
  }

  private defaultClientId(exchange: HttpExchange): string {
    const userId = (this.options.userId ?? defaultUserId)(exchange.user);
    if (userId !== undefined) return userClientId(userId);
    if (!this.warnedForwardedFor && exchange.header('x-forwarded-for') && exchange.ip === exchange.connectingAddress) {
      this.warnedForwardedFor = true;
      this.logger.warn(
        'X-Forwarded-For received but the HTTP adapter does not trust it: clients are keyed by the connecting address. ' +
          'Behind a proxy, set trust proxy (Express) / trustProxy (Fastify) to the proxy addresses.',
      );
    }
    return this.addressClientId(exchange);
  }

  /**
   * The client id of an IP address (a raw one, as an admin types it) under this module's
   * `ipv6Subnet`: `ip:<normalised>`, or `ip:unknown` when it is not an address.
   */
  clientIdOfAddress(address: string): string {
    return ipClientId(address, this.options);
  }

  /**
   * `ip:<address>` of the address the adapter resolved; when that is not an IP address
   * (e.g. a malformed `X-Forwarded-For` relayed by a trusted proxy), of the connecting
   * address instead: keyed by its text, every forged value would get a fresh bucket.
   * Never logs the raw value (it is client input, and personal data).
   */
  private addressClientId(exchange: HttpExchange): string {
    const reported = normalizeIp(exchange.ip, this.options);
    if (reported !== undefined) return `ip:${reported}`;
    const connecting = normalizeIp(exchange.connectingAddress, this.options);
    if (connecting !== undefined) {
      if (!this.warnedNotAnIp) {
        this.warnedNotAnIp = true;
        this.logger.warn(
          'The HTTP adapter reported a client address that is not an IP address (a malformed X-Forwarded-For?): ' +
            'such requests are keyed by the connecting address.',
        );
      }
      return `ip:${connecting}`;
    }
    if (!this.warnedNoAddress) {
      this.warnedNoAddress = true;
      this.logger.warn(
        'Neither the client address nor the connecting address of a request is an IP address (a Unix socket ' +
          'without a trusted proxy header?): such requests share the one bucket ip:unknown.',
      );
    }
    return ipClientId(undefined);
  }

  /** What the guard needs of a route, resolved once per handler (and class). */
  private routeOf(controller: Type, handler: object): GuardedRoute {
    const known = this.routes.get(handler);
    // One handler may serve several controller classes (inherited methods): keyed by both.
    if (known?.controller === controller) return known;
    const policies = resolveRoutePolicies(
      this.registry,
      this.options.algorithm ?? 'sliding-window',
      { controller: controller.name, handler: (handler as { name: string }).name },
      this.reflector.get(RateLimit, controller),
      this.reflector.get(RateLimit, handler as Type),
    );
    for (const name of this.options.shadowPolicies ?? []) policies.push(this.registry.get(name));
    this.registry.addRoutePolicies(policies);
    const cost = this.reflector.getAllAndOverride(RateLimitCostOn, [handler as Type, controller]);
    const costPolicies = cost?.policies && new Set(cost.policies);
    for (const name of costPolicies ?? []) {
      if (!policies.some((policy) => baseName(policy.name) === name)) {
        throw new Error(
          messages.invalidOption(
            `@RateLimitCost policies on ${controller.name}.${(handler as { name: string }).name}`,
            name,
            `one of the route's policies (${policies.map((policy) => policy.name).join(', ')})`,
          ),
        );
      }
    }
    const route: GuardedRoute = {
      controller,
      skip: this.reflector.getAllAndOverride(SkipRateLimit, [handler as Type, controller]) ?? false,
      cost: cost?.spec,
      costPolicies,
      policies,
    };
    this.routes.set(handler, route);
    return route;
  }

  private policiesFor(
    context: ExecutionContext,
    exchange: HttpExchange,
    policies: RateLimitPolicy[],
  ): RateLimitPolicy[] | Promise<RateLimitPolicy[]> {
    if (!this.options.plan) return policies;
    return Promise.resolve(this.options.plan(context, exchange)).then((plan) => this.forPlan(policies, plan));
  }

  private forPlan(policies: RateLimitPolicy[], plan: string | undefined): RateLimitPolicy[] {
    if (!plan) return policies;
    let byPlan = this.planPolicies.get(policies);
    if (!byPlan) this.planPolicies.set(policies, (byPlan = new Map()));
    let selected = byPlan.get(plan);
    if (!selected) {
      selected = policies.map((policy) => {
        const variant = `${policy.name}@${plan}`;
        return this.registry.has(variant) ? this.registry.get(variant) : policy;
      });
      // Plans come from user input (e.g. a JWT claim): never grow without bound.
      if (byPlan.size < 100) byPlan.set(plan, selected);
    }
    return selected;
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
