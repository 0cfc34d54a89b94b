import { type ExecutionContext, Inject, Injectable, Logger, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type HttpExchange, httpExchange } from '../../core/http/http-facade.js';
import {
  boundedClientId,
  defaultUserId,
  IpAllowlist,
  ipClientId,
  normalizeIp,
  userClientId,
} from '../engine/client-id.js';
import { PolicyRegistry } from '../engine/policy.js';
import type { RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import type { RateLimitPolicy } from '../engine/rate-limit.types.js';
import { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit.constants.js';
import { ConcurrencyLimitOn, RateLimit } from './rate-limit.decorators.js';
import { resolveConcurrencyPolicy, resolveRoutePolicies } from './route-policies.js';

/**
 * Who is calling and what applies to them, as the module's options say: the client id of
 * a request (the `clientId` option, else `user:<id>`, else `ip:<address>`), whether it is
 * exempt (`disabled`, `allowlist`, `skip`), and the policies of its route for its plan.
 * One provider for the guard and the system API's status endpoint, so both key a client
 * the same way.
 */
@Injectable()
export class ClientIdentity {
  private readonly logger = new Logger('RateLimit');
  private readonly allowlist: IpAllowlist;
  /** Each route's policies, resolved once per handler (and class). */
  private readonly routes = new WeakMap<object, { controller: object; policies: RateLimitPolicy[] }>();
  /** Each route's policies as a plan selects them, built once per (route, plan). */
  private readonly planPolicies = new WeakMap<RateLimitPolicy[], Map<string, RateLimitPolicy[]>>();
  private warnedForwardedFor = false;
  private warnedNotAnIp = false;
  private warnedNoAddress = false;

  /** @internal Instantiated by Nest; provided by `RateLimitModule`. */
  constructor(
    private readonly reflector: Reflector,
    private readonly registry: PolicyRegistry,
    @Inject(RATE_LIMIT_MODULE_OPTIONS) private readonly options: RateLimitModuleOptions,
  ) {
    this.allowlist = new IpAllowlist(options.allowlist ?? []);
  }

  /**
   * The client id and policies of a request on its route, without counting: for endpoints
   * that report a caller's own standing (`/rate-limit/status`).
   */
  async identify(context: ExecutionContext): Promise<{
    /** The raw client id (the `clientId` option's, else `user:<id>` or `ip:<address>`), before hashing. */
    clientId: string;
    /** The policies that apply to this client on this route (plan variants resolved). */
    policies: RateLimitPolicy[];
  }> {
    const exchange = httpExchange(context);
    return {
      clientId: await this.clientId(context, exchange),
      policies: await this.policiesFor(context, exchange, this.routePolicies(context.getClass(), context.getHandler())),
    };
  }

  /**
   * Whether a request is not limited at all: the module is `disabled`, its address is in
   * the `allowlist`, or the `skip` option says so. Synchronous unless `skip` returns a promise.
   */
  exempt(context: ExecutionContext, exchange: HttpExchange): boolean | Promise<boolean> {
    if (this.options.disabled || this.allowlist.has(exchange.ip)) return true;
    return this.options.skip ? this.options.skip(context, exchange) : false;
  }

  /**
   * The raw client id of a request: the `clientId` option's (bounded), else `user:<id>`
   * when `request.user` has one, else `ip:<address>`. Synchronous unless `clientId` is set.
   */
  clientId(context: ExecutionContext, exchange: HttpExchange): string | Promise<string> {
    if (this.options.clientId) {
      // Bounded here, before the memo, the local caches or the events see the id.
      return Promise.resolve(this.options.clientId(context, exchange)).then((custom) =>
        custom ? boundedClientId(custom) : this.defaultClientId(exchange),
      );
    }
    return this.defaultClientId(exchange);
  }

  /**
   * The client id of an IP address (a raw one, as an admin types it) under this module's
   * `ipv6Subnet`: `ip:<normalised>`, or `ip:unknown` when it is not an address.
   */
  ofAddress(address: string): string {
    return ipClientId(address, this.options);
  }

  /**
   * A route's policies, resolved once per handler (and class): its `@RateLimit` (handler
   * over class) or the default policy, its `@ConcurrencyLimit` policy, then the shadow policies. Each is made known to the
   * registry, so a client's reset reaches its buckets on every route.
   */
  routePolicies(controller: Type, handler: object): RateLimitPolicy[] {
    const known = this.routes.get(handler);
    // One handler may serve several controller classes (inherited methods): keyed by both.
    if (known?.controller === controller) return known.policies;
    const route = { controller: controller.name, handler: (handler as { name: string }).name };
    const policies = resolveRoutePolicies(
      this.registry,
      route,
      this.reflector.get(RateLimit, controller),
      this.reflector.get(RateLimit, handler as Type),
    );
    const slots = resolveConcurrencyPolicy(
      this.registry,
      route,
      this.reflector.get(ConcurrencyLimitOn, controller),
      this.reflector.get(ConcurrencyLimitOn, handler as Type),
    );
    if (slots) policies.push(slots);
    for (const name of this.options.shadowPolicies ?? []) policies.push(this.registry.get(name));
    this.registry.addRoutePolicies(policies);
    this.routes.set(handler, { controller, policies });
    return policies;
  }

  /** A route's policies for the request's plan (the `plan` option): `<name>@<plan>` where configured. */
  policiesFor(
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
}
