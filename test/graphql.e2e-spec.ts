import type { INestApplication } from '@nestjs/common';
import { type Client, createClient } from 'graphql-ws';
import { type RateLimitDecisionEvent, ShieldEvents } from 'nestjs-redis-shield';
import request from 'supertest';
import WebSocket from 'ws';
import { type GraphqlServer, POLICIES, startGraphqlApp } from './fixtures/graphql-app.js';
import { type RedisServer, startRedis } from './harness/index.js';

// @RateLimit on GraphQL resolvers (issue 19 point 1): per operation by default, per field on
// a @ResolveField, batched operations once each, a RATE_LIMITED GraphQL error with the HTTP
// fields beside it, clients identified as over HTTP, and a cost read from the operation.

interface GraphqlError {
  message: string;
  path?: (string | number)[];
  extensions?: Record<string, unknown>;
}

interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: GraphqlError[];
}

function post(url: string, body: unknown, user?: string) {
  const call = request(url).post('/graphql').set('Content-Type', 'application/json');
  return (user ? call.set('X-User', user) : call).send(body as object);
}

/** The first result (data or errors) of one subscription on `client`'s socket. */
function firstResult(client: Client, query: string): Promise<GraphqlBody> {
  return new Promise<GraphqlBody>((resolve, reject) => {
    client.subscribe(
      { query },
      {
        next: (value) => resolve(value as GraphqlBody),
        // graphql-ws reports a subscription refused at its start as an `error` message with the errors.
        error: (error) =>
          Array.isArray(error) ? resolve({ errors: error as GraphqlError[] }) : reject(error as Error),
        complete: () => undefined,
      },
    );
  });
}

/** A graphql-ws client of the app at `url`: one WebSocket, opened on its first subscription, kept open between them. */
const wsClient = (url: string) =>
  createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazyCloseTimeout: 60_000,
  });

/** Subscribes once over graphql-ws, on a socket of its own, and returns the first result. */
async function subscribeOnce(url: string, query: string): Promise<GraphqlBody> {
  const client = wsClient(url);
  try {
    return await firstResult(client, query);
  } finally {
    await client.dispose();
  }
}

const rateLimited = (body: GraphqlBody) =>
  (body.errors ?? []).filter((error) => error.extensions?.code === 'RATE_LIMITED');

describe.each<GraphqlServer>(['apollo', 'mercurius'])('GraphQL rate limits on %s', (server) => {
  let redis: RedisServer;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    redis = await startRedis();
    app = await startGraphqlApp({ server, redisUrl: redis.url });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  beforeEach(async () => {
    await redis.command('FLUSHALL');
  });

  it('counts an operation once, however many root fields of its policy it asks', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post(url, { query: '{ models { id label } catalogue again: catalogue }' });
      expect(response.status).toBe(200);
      expect((response.body as GraphqlBody).errors).toBeUndefined();
      remaining.push(response.headers['x-ratelimit-remaining'] as string);
    }
    expect(remaining).toEqual(['2', '1', '0']);
  });

  it('rejects with a RATE_LIMITED GraphQL error, Retry-After and the RateLimit fields on the HTTP response', async () => {
    for (let i = 0; i < 3; i++) await post(url, { query: '{ catalogue }' });
    const response = await post(url, { query: '{ models { id } catalogue }' });
    // GraphQL over HTTP: the errors travel in a 200 beside the data that could be resolved.
    expect(response.status).toBe(200);
    const body = response.body as GraphqlBody;
    expect(body.data).toBeNull();
    // Every root field of the rejected operation's policy set fails with the same error.
    expect(rateLimited(body)).toHaveLength(body.errors!.length);
    expect(body.errors![0]).toMatchObject({
      message: 'Too many requests. Please try again later.',
      extensions: { code: 'RATE_LIMITED', retryAfter: expect.any(Number), policy: 'ops', tier: 'minute' },
    });
    const retryAfter = body.errors![0]!.extensions!.retryAfter as number;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(response.headers['retry-after']).toBe(String(retryAfter));
    expect(response.headers['ratelimit-policy']).toBe('"minute";q=3;w=60');
    expect(response.headers.ratelimit).toMatch(/^"minute";r=0;t=\d+$/);
    expect(response.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('counts a field with its own @RateLimit each time it resolves', async () => {
    // `priced` is exempt; each of its 3 models resolves `price` once: 3 of the 4 per minute.
    const first = await post(url, { query: '{ priced { id price } }' });
    expect((first.body as GraphqlBody).errors).toBeUndefined();
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    const second = await post(url, { query: '{ priced { id price } }' });
    const body = second.body as GraphqlBody;
    const errors = rateLimited(body);
    expect(errors).toHaveLength(2);
    expect(errors.map((error) => error.path?.slice(-1)[0])).toEqual(['price', 'price']);
    expect(errors[0]!.extensions).toMatchObject({ policy: 'ModelsResolver.price' });
    // The rejected fields are null, the rest of the operation answers.
    const prices = (body.data?.priced as { price: number | null }[]).map((model) => model.price);
    expect(prices.sort()).toEqual([10, null, null]);
  });

  it('reports decisions under graphql:<Type>.<field>, never under the client-chosen operation name', async () => {
    const routes: (string | undefined)[] = [];
    const stop = app.get(ShieldEvents).on('ratelimit.decision', (event) => routes.push(event.route));
    try {
      await post(url, { query: 'query ClientChosenName { catalogue models { id } }' });
      await post(url, { query: '{ priced { price } }' });
    } finally {
      stop();
    }
    expect(routes).toEqual(['graphql:Query.catalogue', ...Array(3).fill('graphql:Model.price')]);
  });

  it('counts each operation of a batched HTTP request once', async () => {
    const batch = Array.from({ length: 4 }, () => ({ query: '{ models { id } catalogue }' }));
    const response = await post(url, batch);
    expect(response.status).toBe(200);
    const results = response.body as GraphqlBody[];
    expect(results).toHaveLength(4);
    // 3 per minute: exactly one of the four operations is rejected.
    expect(results.filter((result) => rateLimited(result).length > 0)).toHaveLength(1);
    expect(results.filter((result) => result.errors === undefined)).toHaveLength(3);
  });

  it('limits a mutation by its own inline policy', async () => {
    const mutation = { query: 'mutation { completion(prompt: "hi") }' };
    expect((await post(url, mutation)).body).toEqual({ data: { completion: 'echo: hi' } });
    await post(url, mutation);
    const third = (await post(url, mutation)).body as GraphqlBody;
    expect(rateLimited(third)[0]?.extensions).toMatchObject({ policy: 'ModelsResolver.completion' });
  });

  it('identifies the client as over HTTP: each user has its own buckets', async () => {
    for (let i = 0; i < 3; i++) await post(url, { query: '{ catalogue }' }, 'alice');
    expect(rateLimited((await post(url, { query: '{ catalogue }' }, 'alice')).body as GraphqlBody)).toHaveLength(1);
    const bob = await post(url, { query: '{ catalogue }' }, 'bob');
    expect((bob.body as GraphqlBody).errors).toBeUndefined();
    expect(bob.headers['x-ratelimit-remaining']).toBe('2');
    // Anonymous clients are keyed by their address, apart from both users.
    const anonymous = await post(url, { query: '{ catalogue }' });
    expect(anonymous.headers['x-ratelimit-remaining']).toBe('2');
  });

  it('charges a cost read from the operation: an expensive query costs more than a cheap one', async () => {
    // graphql-query-complexity, 1 per field: `search { id }` is 2, the fragment's three fields make 4.
    const cheapQuery = { query: '{ search { id } }' };
    const heavyQuery = { query: 'query Heavy { search { ...all } } fragment all on Model { id name tags }' };
    const cheap = await post(url, cheapQuery);
    expect(cheap.headers['x-ratelimit-remaining']).toBe('8');
    const heavy = await post(url, heavyQuery);
    expect((heavy.body as GraphqlBody).errors).toBeUndefined();
    expect(heavy.headers['x-ratelimit-remaining']).toBe('4');
    expect((await post(url, cheapQuery)).headers['x-ratelimit-remaining']).toBe('2');
    // 2 units left: the cheap query still fits, the heavy one does not.
    const rejected = await post(url, heavyQuery);
    expect(rateLimited(rejected.body as GraphqlBody)[0]?.extensions).toMatchObject({ policy: 'budget' });
    expect((await post(url, cheapQuery)).headers['x-ratelimit-remaining']).toBe('0');
  });

  it('limits subscriptions when they start, identifying the client by the WebSocket upgrade request', async () => {
    const results: GraphqlBody[] = [];
    for (let i = 0; i < 3; i++) results.push(await subscribeOnce(url, 'subscription { ticks }'));
    expect(results[0]).toEqual({ data: { ticks: 'tick' } });
    expect(results[1]).toEqual({ data: { ticks: 'tick' } });
    expect(rateLimited(results[2]!)[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', policy: 'subs' });
  });
});

describe.each<GraphqlServer>(['apollo', 'mercurius'])("GraphQL limits with the module's options on %s", (server) => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('keys clients by the clientId option and picks policies by the plan option, reading the HTTP request', async () => {
    const app = await startGraphqlApp({
      server,
      redisUrl: redis.url,
      limits: {
        policies: { ...POLICIES, 'ops@pro': { tiers: { minute: { limit: 5, windowMs: 60_000 } } } },
        clientId: (_context, exchange) => exchange.header('x-api-key') && `key:${exchange.header('x-api-key')}`,
        plan: (_context, exchange) => exchange.header('x-plan'),
      },
    });
    try {
      const url = await app.getUrl();
      const query = (key: string, plan?: string) => {
        const call = post(url, { query: '{ catalogue }' }).set('X-Api-Key', key);
        return plan ? call.set('X-Plan', plan) : call;
      };
      for (let i = 0; i < 3; i++) await query('k1');
      expect(rateLimited((await query('k1')).body as GraphqlBody)).toHaveLength(1);
      const other = await query('k2');
      expect(other.headers['x-ratelimit-remaining']).toBe('2');
      const pro = await query('k3', 'pro');
      expect(pro.headers['x-ratelimit-limit']).toBe('5');
      for (let i = 0; i < 4; i++) await query('k3', 'pro');
      expect(rateLimited((await query('k3', 'pro')).body as GraphqlBody)[0]?.extensions).toMatchObject({
        policy: 'ops@pro',
      });
    } finally {
      await app.close();
    }
  });

  it('gives each subscription on one WebSocket a Redis budget of its own: a timeout does not spend the later ones', async () => {
    const app = await startGraphqlApp({ server, redisUrl: redis.url, commandTimeoutMs: 200 });
    const client = wsClient(await app.getUrl());
    const decisions: RateLimitDecisionEvent[] = [];
    const stop = app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
    try {
      await firstResult(client, 'subscription { ticks }');
      expect(decisions.map((decision) => decision.fallback)).toEqual([false]);
      // Redis stalls past the budget: this subscription is decided by the in-memory fallback.
      await redis.stall();
      try {
        await firstResult(client, 'subscription { ticks }');
      } finally {
        await redis.resume();
      }
      expect(decisions[1]?.fallback).toBe(true);
      // The same socket's next subscriptions reach Redis again (the upgrade request's budget is not theirs),
      // once the connection has answered again.
      const until = Date.now() + 6000;
      while (decisions.at(-1)?.fallback !== false && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await firstResult(client, 'subscription { ticks }');
      }
      expect(decisions.at(-1)?.fallback).toBe(false);
    } finally {
      stop();
      await client.dispose();
      await app.close();
    }
  });

  it("answers closed mode's refusal as a SERVICE_UNAVAILABLE GraphQL error", async () => {
    const app = await startGraphqlApp({ server, redisUrl: 'redis://127.0.0.1:1', limits: { failMode: 'closed' } });
    try {
      const body = (await post(await app.getUrl(), { query: '{ catalogue }' })).body as GraphqlBody;
      expect(body.errors?.[0]).toMatchObject({
        message: 'Rate limiting is temporarily unavailable. Please try again later.',
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
    } finally {
      await app.close();
    }
  });

  it('refuses a limited resolver whose GraphQL context holds no request, naming the fix (SHIELD_E028)', async () => {
    const app = await startGraphqlApp({ server, redisUrl: redis.url, context: () => ({ req: {} }) });
    try {
      const body = (await post(await app.getUrl(), { query: '{ catalogue }' })).body as GraphqlBody;
      expect(body.errors?.[0]?.message).toMatch(/GraphQL context of Query\.catalogue holds no HTTP request/);
    } finally {
      await app.close();
    }
  });
});
