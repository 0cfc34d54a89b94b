import { type IncomingMessage, ServerResponse } from 'node:http';
import {
  type ExpressLikeRequest,
  expressExchange,
  type FastifyLikeReply,
  type FastifyLikeRequest,
  fastifyExchange,
  type HttpExchange,
  isFastify,
} from './http-facade.js';

/**
 * What the library reads of a GraphQL context (the third resolver argument), as the
 * drivers of `@nestjs/graphql` build it:
 * - Apollo on Express: `{ req }` (Express's request; its response is `req.res`), or what
 *   the application's `context` function returns, e.g. `({ req, res }) => ({ req, res })`;
 * - Mercurius on Fastify: Mercurius's context, with `reply` (Fastify's reply) and `req`
 *   (Fastify's request) added by the Nest driver;
 * - Apollo on Fastify: `{ req }` (Fastify's request); its reply only when the application's
 *   `context` passes it as `reply`;
 * - subscriptions over graphql-ws (Apollo): `{ req: <graphql-ws context> }` by default, whose
 *   `extra.request` is the WebSocket upgrade request;
 * - subscriptions on Mercurius: Mercurius's context, whose `request` is Fastify's request of
 *   the WebSocket upgrade.
 */
interface GraphqlContextLike {
  req?: unknown;
  res?: unknown;
  reply?: unknown;
  request?: unknown;
  extra?: { request?: unknown };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A Node request or Express's (Express's is a Node request with extras): it has its own headers and socket. */
function isNodeRequest(value: unknown): value is ExpressLikeRequest {
  return isObject(value) && isObject(value.headers) && 'socket' in value;
}

/** Fastify's request: its Node request is `raw` (as the facade tells the adapters apart). */
function isFastifyRequest(value: unknown): value is FastifyLikeRequest {
  return isObject(value) && isObject(value.headers) && isFastify(value as unknown as FastifyLikeRequest);
}

function isFastifyReply(value: unknown): value is FastifyLikeReply {
  return isObject(value) && value.raw instanceof ServerResponse && typeof value.header === 'function';
}

/** The upgrade request of a graphql-ws context (`{ connectionParams, extra: { request, socket } }`). */
function upgradeRequestOf(value: unknown): IncomingMessage | undefined {
  if (!isObject(value) || !isObject(value.extra)) return undefined;
  const request = value.extra.request;
  return isNodeRequest(request) ? request : undefined;
}

/** The responses {@link detachedResponse} made: an exchange over one of them has no HTTP response of its own. */
const detached = new WeakSet<ServerResponse>();

/**
 * Whether a GraphQL exchange answers over HTTP: false for a subscription over a WebSocket
 * (the exchange is the upgrade request's, which lives as long as the socket) or a context
 * without the response; its headers then go nowhere.
 */
export function answersOverHttp(exchange: HttpExchange): boolean {
  return !detached.has(exchange.rawResponse);
}

/**
 * A response nobody receives, for a request whose response the GraphQL context does not
 * carry (a WebSocket upgrade, Apollo on Fastify without `reply` in the context): headers
 * set on it go nowhere, which is all a transport without HTTP response headers can offer.
 */
function detachedResponse(request: IncomingMessage): ServerResponse {
  const response = new ServerResponse(request);
  detached.add(response);
  return response;
}

function detachedReply(request: FastifyLikeRequest): FastifyLikeReply {
  const raw = detachedResponse(request.raw);
  return {
    raw,
    get statusCode() {
      return raw.statusCode;
    },
    header: (name: string, value: string) => raw.setHeader(name, value),
    getHeader: (name: string) => raw.getHeader(name),
  };
}

/**
 * The HTTP exchange behind a GraphQL operation, found in its GraphQL context, so the client
 * is identified exactly as over HTTP (user, address with the adapter's trust proxy, plans,
 * the `clientId` option) and the rate-limit headers reach the HTTP response. Read without
 * `@nestjs/graphql` (it stays an optional peer): see {@link GraphqlContextLike} for the
 * shapes each driver passes. Over a WebSocket (subscriptions) the exchange is the upgrade
 * request's, with a response that goes nowhere, and the address is the connecting one.
 *
 * @param graphqlContext The resolver's context argument (`context.getArgs()[2]`).
 * @returns undefined when the context holds no request (a custom `context` that drops `req`).
 */
export function graphqlExchange(graphqlContext: unknown): HttpExchange | undefined {
  if (!isObject(graphqlContext)) return undefined;
  const context = graphqlContext as GraphqlContextLike;
  const request = context.req ?? context.request;
  if (isFastifyRequest(request)) {
    return fastifyExchange(request, isFastifyReply(context.reply) ? context.reply : detachedReply(request));
  }
  if (isNodeRequest(request)) {
    const response = [context.res, (request as { res?: unknown }).res].find((r) => r instanceof ServerResponse);
    return expressExchange(request, (response as ServerResponse | undefined) ?? detachedResponse(request));
  }
  const upgrade = upgradeRequestOf(request) ?? upgradeRequestOf(context);
  return upgrade && expressExchange(upgrade, detachedResponse(upgrade));
}
