import type { ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { shieldError } from '../../core/errors.js';
import { graphqlExchange } from '../../core/http/graphql-exchange.js';
import type { HttpExchange } from '../../core/http/http-facade.js';
import { waitSeconds } from '../engine/rate-limit-headers.js';
import type { RateLimitPolicy, RateLimitResult } from '../engine/rate-limit.types.js';
import { GraphqlRateLimitError } from './graphql-rate-limit.error.js';
import { RateLimit } from './rate-limit.decorators.js';
import { RateLimitUnavailableException, withoutStack } from './rate-limit.exceptions.js';

/**
 * The parts of graphql-js's `GraphQLResolveInfo` read here, typed structurally: `graphql`
 * and `@nestjs/graphql` stay optional peers of the library.
 */
interface ResolveInfoLike {
  fieldName: string;
  parentType: { name: string };
  /** `prev` is undefined for a root field (`Query.models`), set for a nested one (`Model.owner`). */
  path: { prev?: unknown };
  /** The operation's AST node: one object per operation of a parsed document. */
  operation: object;
}

/** Whether a resolver's fourth argument is graphql-js's resolve info (a federation `@ResolveReference` has none). */
function isResolveInfo(value: unknown): value is ResolveInfoLike {
  const info = value as Partial<ResolveInfoLike> | undefined;
  return typeof info?.fieldName === 'string' && typeof info.path === 'object' && typeof info.operation === 'object';
}

/** What the limiter needs to know of a resolver's route (the guard's view of it). */
export interface GraphqlRoute {
  /** `@SkipRateLimit()` applies. */
  skip: boolean;
  /** The route's policies (handler over class, before the client's plan). */
  policies: readonly RateLimitPolicy[];
}

/** A decision as the guard made it: its result, and what the call cost in the rejecting tier's policy. */
export interface GraphqlDecision {
  result: RateLimitResult;
  cost: number;
}

/** What the GraphQL limiter uses of the guard, so a resolver is limited exactly like an HTTP route. */
export interface GraphqlGuardSteps<R extends GraphqlRoute> {
  /** The module's `disabled` option. */
  readonly disabled: boolean;
  /** The handler's route, resolved once per handler (and class). */
  route(controller: Type, handler: object): R;
  /**
   * Counts one call as the guard counts a request: exemptions, client id (tracker and key),
   * plan, cost, one store call, the rate-limit headers through `exchange`. Undefined when exempt.
   */
  decide(
    context: ExecutionContext,
    exchange: HttpExchange,
    route: R,
    routeTemplate: string,
  ): Promise<GraphqlDecision | undefined>;
}

/**
 * The decisions of the operations under way, per GraphQL context (one per operation, also
 * within a batch: Apollo copies the context per operation, Mercurius derives one), per
 * operation node, per policy set. Module-wide, so a guard registered twice counts once.
 */
const operationDecisions = new WeakMap<object, WeakMap<object, Map<string, Promise<GraphqlDecision | undefined>>>>();

/** The key of a policy set: operations count once per set, whichever root fields share it. */
function policyKey(policies: readonly RateLimitPolicy[]): string {
  return policies.map((policy) => policy.name).join('\n');
}

/**
 * Closed mode's 503 as GraphQL clients can tell it: `extensions.code` `SERVICE_UNAVAILABLE`
 * (graphql-js copies a thrown error's `extensions`); any other error as it is.
 */
function unavailableForGraphql(error: unknown): never {
  if (error instanceof RateLimitUnavailableException) {
    throw Object.assign(error, { extensions: { code: 'SERVICE_UNAVAILABLE' } });
  }
  throw error;
}

/**
 * `@RateLimit` on GraphQL resolvers, for the rate-limit guard (context type `graphql`).
 *
 * What counts:
 * - an **operation** once per policy set: its root fields (`Query.models`,
 *   `Mutation.completion`, `Subscription.events` when subscribed) share one decision per
 *   set of policies, so `{ a b }` under the default policy counts once, and a rejection
 *   fails every root field of that set; each operation of a batched HTTP request counts
 *   on its own;
 * - a **field** each time it resolves, when `@RateLimit` sits on its `@ResolveField`
 *   method (and the GraphQL module runs guards on field resolvers:
 *   `fieldResolverEnhancers: ['guards']`); a nested field without its own `@RateLimit`
 *   is part of its operation and not counted again.
 *
 * Decisions are reported under the route template `graphql:<Type>.<field>` (the first
 * root field of the operation in the set). A rejection throws {@link GraphqlRateLimitError};
 * over HTTP the response also carries `Retry-After` and the rate-limit fields.
 */
export class GraphqlLimits<R extends GraphqlRoute> {
  constructor(
    private readonly reflector: Reflector,
    private readonly steps: GraphqlGuardSteps<R>,
  ) {}

  /** Decides a resolver call; throws {@link GraphqlRateLimitError} when rejected. */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.steps.disabled) return true;
    const [, , graphqlContext, info] = context.getArgs<[unknown, unknown, unknown, unknown]>();
    // Not a field's resolver (a federation reference resolver): no operation to count.
    if (!isResolveInfo(info)) return true;
    const handler = context.getHandler();
    const nested = info.path.prev !== undefined;
    // A nested field is limited on its own only when its own method says so.
    if (nested && this.reflector.get(RateLimit, handler) === undefined) return true;
    const route = this.steps.route(context.getClass(), handler);
    if (route.skip) return true;
    const field = `${info.parentType.name}.${info.fieldName}`;
    const exchange = graphqlExchange(graphqlContext);
    if (!exchange) throw shieldError('graphqlNoRequest', field);
    const decide = () => this.steps.decide(context, exchange, route, `graphql:${field}`);
    const decision = await (
      nested ? decide() : this.oncePerOperation(graphqlContext as object, info, route, decide)
    ).catch(unavailableForGraphql);
    if (!decision || decision.result.allowed) return true;
    return this.reject(exchange, decision);
  }

  /** The operation's decision for the route's policy set: made by its first root field, shared by the others. */
  private oncePerOperation(
    graphqlContext: object,
    info: ResolveInfoLike,
    route: R,
    decide: () => Promise<GraphqlDecision | undefined>,
  ): Promise<GraphqlDecision | undefined> {
    let operations = operationDecisions.get(graphqlContext);
    if (!operations) operationDecisions.set(graphqlContext, (operations = new WeakMap()));
    let sets = operations.get(info.operation);
    if (!sets) operations.set(info.operation, (sets = new Map()));
    const key = policyKey(route.policies);
    let decision = sets.get(key);
    // Set before the first await: root fields of a query resolve concurrently.
    if (!decision) sets.set(key, (decision = decide()));
    return decision;
  }

  private reject(exchange: HttpExchange, { result, cost }: GraphqlDecision): never {
    if (!result.costExceedsLimit) exchange.setHeader('Retry-After', String(waitSeconds(result.retryAfterMs)));
    // Built without a stack trace: a rejection is control flow (as the HTTP 429).
    throw withoutStack(() => new GraphqlRateLimitError(result, cost));
  }
}
