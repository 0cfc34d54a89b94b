import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { RateLimitPolicy, RateLimitResult } from '../engine/rate-limit.types.js';
import { type GraphqlDecision, GraphqlLimits, type GraphqlRoute } from './graphql-limits.js';
import { GraphqlRateLimitError } from './graphql-rate-limit.error.js';
import { RateLimit } from './rate-limit.decorators.js';

class ModelsResolver {
  models() {}
  catalogue() {}
  @RateLimit('strict')
  limitedQuery() {}
  label() {}
  @RateLimit({ perMinute: 4 })
  price() {}
}

const policy = (name: string) => ({ name }) as RateLimitPolicy;
const POLICIES: Record<string, RateLimitPolicy[]> = {
  models: [policy('default')],
  catalogue: [policy('default')],
  limitedQuery: [policy('strict')],
  label: [policy('default')],
  price: [policy('ModelsResolver.price')],
};

const allowed = { allowed: true } as RateLimitResult;
const rejected = {
  allowed: false,
  retryAfterMs: 2500,
  policy: 'default',
  tier: 'minute',
  limit: 3,
} as RateLimitResult;

/** A GraphQL context as Apollo on Express builds it: `{ req }`, the response as `req.res`. */
function graphqlContext() {
  const req = new IncomingMessage(new Socket());
  req.headers = {};
  return { req: Object.assign(req, { res: new ServerResponse(req) }) };
}

/** The execution context of one resolver call: `[root, args, context, info]`. */
function call(
  handler: keyof ModelsResolver,
  context: object,
  operation: object,
  { nested = false } = {},
): ExecutionContext {
  const info = {
    fieldName: handler,
    parentType: { name: nested ? 'Model' : 'Query' },
    path: { prev: nested ? { key: 0 } : undefined, key: handler },
    operation,
  };
  const host = new ExecutionContextHost(
    [undefined, {}, context, info],
    ModelsResolver,
    ModelsResolver.prototype[handler],
  );
  host.setType('graphql');
  return host;
}

function limits(result: RateLimitResult = allowed, options: { disabled?: boolean } = {}) {
  const decide = jest.fn(async (..._args: unknown[]): Promise<GraphqlDecision | undefined> => ({ result, cost: 1 }));
  const graphql = new GraphqlLimits<GraphqlRoute>(new Reflector(), {
    disabled: options.disabled ?? false,
    route: (_controller, handler) => ({
      skip: false,
      policies: POLICIES[(handler as { name: string }).name]!,
    }),
    decide,
  });
  return { graphql, decide };
}

describe('GraphqlLimits', () => {
  it('decides the root fields of one operation once per policy set, even while the first is pending', async () => {
    const { graphql, decide } = limits();
    const context = graphqlContext();
    const operation = {};
    const verdicts = await Promise.all([
      graphql.canActivate(call('models', context, operation)),
      graphql.canActivate(call('catalogue', context, operation)),
      graphql.canActivate(call('limitedQuery', context, operation)),
    ]);
    expect(verdicts).toEqual([true, true, true]);
    // `default` once (models and catalogue), `strict` once.
    expect(decide).toHaveBeenCalledTimes(2);
    expect(decide.mock.calls.map((args) => args[3])).toEqual(['graphql:Query.models', 'graphql:Query.limitedQuery']);
  });

  it('decides each operation of a batch on its own: one GraphQL context per operation', async () => {
    const { graphql, decide } = limits();
    const operation = {}; // a cached parse: the same node in both
    await graphql.canActivate(call('models', graphqlContext(), operation));
    await graphql.canActivate(call('models', graphqlContext(), operation));
    expect(decide).toHaveBeenCalledTimes(2);
  });

  it('counts a nested field only when its own method carries @RateLimit, then each time it resolves', async () => {
    const { graphql, decide } = limits();
    const context = graphqlContext();
    const operation = {};
    await graphql.canActivate(call('label', context, operation, { nested: true }));
    expect(decide).not.toHaveBeenCalled();
    for (let i = 0; i < 3; i++) await graphql.canActivate(call('price', context, operation, { nested: true }));
    expect(decide).toHaveBeenCalledTimes(3);
    expect(decide.mock.calls[0]![3]).toBe('graphql:Model.price');
  });

  it('fails every root field of a rejected operation with a RATE_LIMITED error and sets Retry-After', async () => {
    const { graphql } = limits(rejected);
    const context = graphqlContext();
    const operation = {};
    const outcomes = await Promise.allSettled([
      graphql.canActivate(call('models', context, operation)),
      graphql.canActivate(call('catalogue', context, operation)),
    ]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as GraphqlRateLimitError;
      expect(error).toBeInstanceOf(GraphqlRateLimitError);
      expect(error.extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 3, policy: 'default', tier: 'minute' });
    }
    expect(context.req.res.getHeader('retry-after')).toBe('3');
  });

  it('says that waiting does not help when the cost exceeds a tier', async () => {
    const { graphql } = limits({ ...rejected, costExceedsLimit: true, retryAfterMs: Infinity });
    const error = await graphql.canActivate(call('models', graphqlContext(), {})).catch((e: unknown) => e);
    expect((error as GraphqlRateLimitError).extensions).toEqual({
      code: 'RATE_LIMITED',
      policy: 'default',
      tier: 'minute',
      cost: 1,
      limit: 3,
    });
  });

  it('lets through calls without resolve info (a federation reference resolver) and everything when disabled', async () => {
    const { graphql, decide } = limits();
    const reference = new ExecutionContextHost([{ __typename: 'Model' }, graphqlContext(), {}]);
    reference.setType('graphql');
    expect(await graphql.canActivate(reference)).toBe(true);
    const off = limits(rejected, { disabled: true });
    expect(await off.graphql.canActivate(call('models', graphqlContext(), {}))).toBe(true);
    expect(decide).not.toHaveBeenCalled();
    expect(off.decide).not.toHaveBeenCalled();
  });
});
