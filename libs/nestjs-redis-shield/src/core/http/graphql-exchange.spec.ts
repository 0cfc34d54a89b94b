import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { answersOverHttp, graphqlExchange } from './graphql-exchange.js';

/** A Node request with headers, on an unconnected socket. */
function nodeRequest(headers: Record<string, string> = {}): IncomingMessage {
  const request = new IncomingMessage(new Socket());
  request.method = 'POST';
  request.headers = { host: 'api.example', ...headers };
  return request;
}

/** Express's request: the Node request, with `ip`, `user` and its response as `res`. */
function expressRequest(extras: { ip?: string; user?: unknown } = {}) {
  const request = Object.assign(nodeRequest({ 'x-test': 'express' }), extras);
  const response = new ServerResponse(request);
  return Object.assign(request, { res: response });
}

/** Fastify's request and reply, as far as the facade reads them. */
function fastifyPair(ip: string) {
  const raw = nodeRequest({ 'x-test': 'fastify' });
  const response = new ServerResponse(raw);
  const request = { raw, ip, headers: raw.headers, method: 'POST' };
  const reply = {
    raw: response,
    statusCode: 200,
    header: (name: string, value: string) => response.setHeader(name, value),
    getHeader: (name: string) => response.getHeader(name),
  };
  return { request, reply, response };
}

describe('graphqlExchange', () => {
  it("reads Apollo on Express's default context: the request, its response as req.res", () => {
    const req = expressRequest({ ip: '203.0.113.7', user: { id: 'u1' } });
    const exchange = graphqlExchange({ req })!;
    expect(exchange.raw).toBe(req);
    expect(exchange.ip).toBe('203.0.113.7');
    expect(exchange.user).toEqual({ id: 'u1' });
    exchange.setHeader('RateLimit', '"minute";r=1;t=5');
    expect(req.res.getHeader('ratelimit')).toBe('"minute";r=1;t=5');
  });

  it('prefers the response an application context passes as res', () => {
    const req = expressRequest();
    const res = new ServerResponse(req);
    graphqlExchange({ req, res })!.setHeader('Retry-After', '3');
    expect(res.getHeader('retry-after')).toBe('3');
    expect(req.res.getHeader('retry-after')).toBeUndefined();
  });

  it("reads Mercurius's context: Fastify's request as req, headers through its reply", () => {
    const { request, reply, response } = fastifyPair('198.51.100.4');
    const exchange = graphqlExchange({ req: request, reply, app: {} })!;
    expect(exchange.raw).toBe(request.raw);
    expect(exchange.ip).toBe('198.51.100.4');
    expect(exchange.header('x-test')).toBe('fastify');
    exchange.setHeader('Retry-After', '7');
    expect(response.getHeader('retry-after')).toBe('7');
  });

  it("reads a Mercurius subscription's context: the upgrade's Fastify request, headers going nowhere", () => {
    const { request } = fastifyPair('198.51.100.5');
    const exchange = graphqlExchange({ request, app: {}, pubsub: {} })!;
    expect(exchange.ip).toBe('198.51.100.5');
    expect(() => exchange.setHeader('Retry-After', '7')).not.toThrow();
  });

  it("reads a graphql-ws context (Apollo's subscriptions): the upgrade request, nested as req or not", () => {
    const upgrade = nodeRequest({ 'x-test': 'upgrade' });
    const graphqlWs = { connectionParams: {}, extra: { request: upgrade, socket: {} } };
    expect(graphqlExchange({ req: graphqlWs })!.raw).toBe(upgrade);
    expect(graphqlExchange(graphqlWs)!.header('x-test')).toBe('upgrade');
  });

  it('tells an exchange that answers over HTTP from one over a WebSocket upgrade or without a response', () => {
    const { request, reply } = fastifyPair('198.51.100.6');
    expect(answersOverHttp(graphqlExchange({ req: expressRequest() })!)).toBe(true);
    expect(answersOverHttp(graphqlExchange({ req: request, reply })!)).toBe(true);
    expect(answersOverHttp(graphqlExchange({ req: request })!)).toBe(false);
    expect(answersOverHttp(graphqlExchange({ extra: { request: nodeRequest() } })!)).toBe(false);
  });

  it('finds no exchange in a context without a request', () => {
    expect(graphqlExchange(undefined)).toBeUndefined();
    expect(graphqlExchange({ user: { id: 'u1' } })).toBeUndefined();
    expect(graphqlExchange({ req: 'not a request' })).toBeUndefined();
  });
});
