import type { ExecutionContext } from '@nestjs/common';
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { existingRequestState, requestState } from '../request-state.js';

/** Express hands out the Node request itself, with extras. */
export interface ExpressLikeRequest extends IncomingMessage {
  ip?: string;
  user?: unknown;
  baseUrl?: string;
  route?: { path?: unknown };
  params?: Record<string, unknown>;
  /** Express 5: the `Host` name (without port), or `X-Forwarded-Host`'s when trust proxy says so. */
  hostname?: string;
  /** Express: `http`/`https`, or `X-Forwarded-Proto` when trust proxy says so. */
  protocol?: string;
}

/** Fastify wraps the Node request and response. */
export interface FastifyLikeRequest {
  raw: IncomingMessage & { user?: unknown };
  ip?: string;
  user?: unknown;
  headers: IncomingHttpHeaders;
  method: string;
  routeOptions?: { url?: string };
  params?: unknown;
  hostname?: string;
  protocol?: string;
}

/** What the facade uses of a Fastify reply. */
export interface FastifyLikeReply {
  raw: ServerResponse;
  statusCode: number;
  header(name: string, value: string): unknown;
  getHeader(name: string): unknown;
}

/** A `Content-Type` as Express's `send` leaves a UTF-8 string's: `type/subtype; charset=utf-8`. */
const CANONICAL_UTF8_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+; charset=utf-8$/;

/**
 * The peer address of each watched socket, as read when its connection opened: a fact of
 * the connection (known before any request on it, shared by every request of a keep-alive
 * connection), so it is kept per socket, not in the per-request state.
 */
const connectingAddresses = new WeakMap<Socket, string>();

/**
 * One HTTP exchange seen through the only facade the library uses over Express and
 * Fastify: it reads the request and writes response headers without touching either
 * framework's internals elsewhere.
 */
export interface HttpExchange {
  /** The Node request (the same object on both adapters): key for per-request state. */
  readonly raw: IncomingMessage;
  /** The Node response (the same object on both adapters), e.g. to act when its headers are written. */
  readonly rawResponse: ServerResponse;
  /** The request method, upper-case (`GET`). */
  readonly method: string;
  /** The request headers, lower-case names. */
  readonly headers: IncomingHttpHeaders;
  /**
   * The client address as the adapter resolved it (trust-proxy aware); when the adapter
   * has none (the connection already closed), {@link connectingAddress}.
   */
  readonly ip: string | undefined;
  /**
   * The address of the peer that opened the connection (a proxy, or the client itself),
   * also once the connection has closed when the server was watched by
   * `rememberConnectingAddresses`; `undefined` on a Unix socket.
   */
  readonly connectingAddress: string | undefined;
  /** `request.user` (Express) or `request.user` / `request.raw.user` (Fastify). */
  readonly user: unknown;
  /** The matched route's template, e.g. `/api/v1/models/:id`. */
  readonly routeTemplate: string | undefined;
  /** The matched route's parameters as the adapter decoded them, e.g. `{ id: 'gpt-4' }`. */
  readonly params: Readonly<Record<string, unknown>>;
  /**
   * The host name the adapter reports, lower-case and without the port: the `Host`
   * header's, or `X-Forwarded-Host`'s where the adapter trusts the proxy that sent it;
   * `''` without one.
   */
  readonly host: string;
  /** `http` or `https` as the adapter reports it (`X-Forwarded-Proto` where it trusts the proxy). */
  readonly protocol: string;
  /** Whether the request carries a body (`Content-Length` above 0, or `Transfer-Encoding`). */
  readonly hasBody: boolean;
  /** Reads one request header (lower-case name), the first value if repeated. */
  header(name: string): string | undefined;
  /** Sets one response header, replacing any value set before. */
  setHeader(name: string, value: string): void;
  /** Reads a response header set so far (lower-case name), joined when repeated. */
  responseHeader(name: string): string | undefined;
  /** The response status set so far. */
  readonly statusCode: number;
  /**
   * A handler result the adapter sends as exactly these UTF-8 bytes, with the headers
   * already set (no serialisation, no stream): a string on Express, the Buffer on Fastify.
   */
  textBody(bytes: Buffer): unknown;
  /**
   * Ends a plain GET's response with these bytes and the headers set so far, as the
   * adapter's own reply of {@link textBody} would, without its per-request work; false
   * (nothing written) where that reply might write anything else: on Fastify (its `onSend`
   * hooks), for a conditional request, or a `Content-Type` Express would rewrite.
   */
  endWith(statusCode: number, bytes: Buffer): boolean;
}

/** The exchange of an HTTP execution context, on Express or Fastify. */
export function httpExchange(context: ExecutionContext): HttpExchange {
  const http = context.switchToHttp();
  return exchangeOf(http.getRequest(), http.getResponse());
}

/**
 * The exchange of a request and response object as the adapter hands them to a route
 * handler (Express: the Node objects with extras; Fastify: its request and reply).
 */
export function exchangeOf(request: unknown, response: unknown): HttpExchange {
  const adapted = request as ExpressLikeRequest | FastifyLikeRequest;
  return isFastify(adapted)
    ? fastifyExchange(adapted, response as FastifyLikeReply)
    : expressExchange(adapted, response as ServerResponse);
}

/**
 * The route template the library recorded for a request (on either adapter), for logs
 * and metrics that run outside Nest's context, e.g. in a `finish` listener.
 */
export function routeTemplateOf(rawRequest: IncomingMessage): string | undefined {
  return existingRequestState(rawRequest)?.routeTemplate;
}

/** Records the route template on the Node request so {@link routeTemplateOf} finds it later. */
export function recordRouteTemplate(exchange: HttpExchange): void {
  const template = exchange.routeTemplate;
  if (template !== undefined) requestState(exchange.raw).routeTemplate = template;
}

/** Records the client id the guard keyed a request by, for {@link clientIdOf}. */
export function recordClientId(rawRequest: IncomingMessage, clientId: string): void {
  requestState(rawRequest).clientId = clientId;
}

/**
 * The client id (`user:42`, `ip:203.0.113.7`) the rate-limit guard keyed a request by,
 * so logs can hash exactly what the keys hash; undefined when the guard did not decide.
 */
export function clientIdOf(rawRequest: IncomingMessage): string | undefined {
  return existingRequestState(rawRequest)?.clientId;
}

/** Records the `X-Cache-Status` the interceptor answered, for {@link cacheStatusOf}. */
export function recordCacheStatus(rawRequest: IncomingMessage, status: string): void {
  requestState(rawRequest).cacheStatus = status;
}

/**
 * The cache status (`HIT`, `MISS`, `BYPASS`) of a request, for logs written outside
 * Nest's context (Fastify writes response headers where `getHeader` cannot read them).
 */
export function cacheStatusOf(rawRequest: IncomingMessage): string | undefined {
  return existingRequestState(rawRequest)?.cacheStatus;
}

/** Servers `rememberConnectingAddresses` already listens to. */
const watchedServers = new WeakSet<EventEmitter>();

/**
 * Remembers, on each socket of `server` as its connection opens, the peer's address:
 * Node reads it from the live socket only (`socket.remoteAddress` is `undefined` once the
 * socket was destroyed), and a request whose client hung up before the guard ran would
 * otherwise have no address at all. HTTPS servers: the TLS socket too. Idempotent.
 *
 * @param server the HTTP(S) server (`HttpAdapterHost.httpAdapter.getHttpServer()`)
 * @returns false when `server` was already watched
 */
export function rememberConnectingAddresses(server: EventEmitter): boolean {
  if (watchedServers.has(server)) return false;
  watchedServers.add(server);
  const remember = (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address !== undefined) connectingAddresses.set(socket, address);
  };
  server.on('connection', remember);
  server.on('secureConnection', remember);
  return true;
}

/** The connecting address of a request: remembered when its connection opened, else read from the socket. */
function connectingAddressOf(raw: IncomingMessage): string | undefined {
  const socket = raw.socket as Socket | null | undefined;
  if (!socket) return undefined;
  return connectingAddresses.get(socket) ?? socket.remoteAddress;
}

/** Whether a request is Fastify's wrapper (its Node request is `raw`) rather than Express's Node request. */
export function isFastify(request: ExpressLikeRequest | FastifyLikeRequest): request is FastifyLikeRequest {
  return 'raw' in request && typeof (request as FastifyLikeRequest).raw === 'object';
}

/** The name of a `Host` header value, without its port (`[::1]:80` → `[::1]`). */
function hostnameOf(host: string | undefined): string {
  if (!host) return '';
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** RFC 9112 §6.3: a request has a body when it says so with `Transfer-Encoding` or a non-zero `Content-Length`. */
function requestHasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * A header of a Node response as it stands, joined when repeated. Once the headers are
 * being written (an `on-headers` hook, `finish`), every header either adapter set is here.
 */
export function writtenHeader(response: ServerResponse, name: string): string | undefined {
  return headerText(response.getHeader(name));
}

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The exchange of an Express request and its response (also any Node request, e.g. a WebSocket upgrade). */
export function expressExchange(request: ExpressLikeRequest, response: ServerResponse): HttpExchange {
  return new ExpressExchange(request, response);
}

/** The exchange of a Fastify request and its reply. */
export function fastifyExchange(request: FastifyLikeRequest, reply: FastifyLikeReply): HttpExchange {
  return new FastifyExchange(request, reply);
}

/**
 * Express's side of the facade. One small object per call, with methods on the prototype
 * and everything read on demand: `request.ip` runs Express's trust-proxy parsing, which the
 * cache interceptor never needs.
 */
class ExpressExchange implements HttpExchange {
  constructor(
    readonly raw: ExpressLikeRequest,
    private readonly response: ServerResponse,
  ) {}

  get rawResponse(): ServerResponse {
    return this.response;
  }

  get method(): string {
    return this.raw.method ?? 'GET';
  }

  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  get ip(): string | undefined {
    return this.raw.ip ?? connectingAddressOf(this.raw);
  }

  get connectingAddress(): string | undefined {
    return connectingAddressOf(this.raw);
  }

  get user(): unknown {
    return this.raw.user;
  }

  get routeTemplate(): string | undefined {
    const path = this.raw.route?.path;
    return typeof path === 'string' ? `${this.raw.baseUrl ?? ''}${path}` : undefined;
  }

  get params(): Readonly<Record<string, unknown>> {
    return this.raw.params ?? {};
  }

  get host(): string {
    const { headers } = this.raw;
    // Without X-Forwarded-Host, Express's hostname is the Host header's, whatever it trusts:
    // skip its getters (settings lookups, the trust function) on the hot path.
    if (headers['x-forwarded-host'] === undefined) return hostnameOf(headers.host).toLowerCase();
    return (this.raw.hostname ?? hostnameOf(headers.host)).toLowerCase();
  }

  get protocol(): string {
    // Without X-Forwarded-Proto, Express's protocol is the socket's, whatever it trusts.
    if (this.raw.headers['x-forwarded-proto'] === undefined) {
      return (this.raw.socket as (Socket & { encrypted?: boolean }) | null)?.encrypted ? 'https' : 'http';
    }
    return this.raw.protocol ?? 'http';
  }

  get hasBody(): boolean {
    return requestHasBody(this.raw.headers);
  }

  get statusCode(): number {
    return this.response.statusCode;
  }

  header(name: string): string | undefined {
    return firstValue(this.raw.headers[name]);
  }

  setHeader(name: string, value: string): void {
    this.response.setHeader(name, value);
  }

  responseHeader(name: string): string | undefined {
    return headerText(this.response.getHeader(name));
  }

  // Nest's Express adapter JSON-encodes any object, a Buffer included; a string goes out as is.
  textBody(bytes: Buffer): unknown {
    return bytes.toString('utf8');
  }

  endWith(statusCode: number, bytes: Buffer): boolean {
    const { headers } = this.raw;
    if (this.raw.method !== 'GET' || headers['if-none-match'] !== undefined) return false;
    if (headers['if-modified-since'] !== undefined) return false; // Express may answer 304
    // Express's send of a string sets the charset in this canonical form; any other type it rewrites.
    const type = this.response.getHeader('content-type');
    if (typeof type !== 'string' || !CANONICAL_UTF8_TYPE.test(type)) return false;
    this.response.statusCode = statusCode;
    this.response.setHeader('Content-Length', bytes.length);
    this.response.end(bytes);
    return true;
  }
}

/** Fastify's side of the facade: the Node request is `request.raw`. */
class FastifyExchange implements HttpExchange {
  constructor(
    private readonly request: FastifyLikeRequest,
    private readonly reply: FastifyLikeReply,
  ) {}

  get raw(): IncomingMessage {
    return this.request.raw;
  }

  get rawResponse(): ServerResponse {
    return this.reply.raw;
  }

  get method(): string {
    return this.request.method;
  }

  get headers(): IncomingHttpHeaders {
    return this.request.headers;
  }

  get ip(): string | undefined {
    return this.request.ip ?? connectingAddressOf(this.request.raw);
  }

  get connectingAddress(): string | undefined {
    return connectingAddressOf(this.request.raw);
  }

  get user(): unknown {
    return this.request.user ?? this.request.raw.user;
  }

  get routeTemplate(): string | undefined {
    return this.request.routeOptions?.url;
  }

  get host(): string {
    return (this.request.hostname ?? hostnameOf(this.request.headers.host)).toLowerCase();
  }

  get protocol(): string {
    return this.request.protocol ?? 'http';
  }

  get hasBody(): boolean {
    return requestHasBody(this.request.headers);
  }

  get params(): Readonly<Record<string, unknown>> {
    const params = this.request.params;
    return typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : {};
  }

  get statusCode(): number {
    return this.reply.statusCode;
  }

  header(name: string): string | undefined {
    return firstValue(this.request.headers[name]);
  }

  setHeader(name: string, value: string): void {
    this.reply.header(name, value);
  }

  responseHeader(name: string): string | undefined {
    return headerText(this.reply.getHeader(name));
  }

  // Fastify sends a Buffer as is; a string might meet a route's reply serializer.
  textBody(bytes: Buffer): unknown {
    return bytes;
  }

  endWith(): boolean {
    return false; // Fastify's reply runs the application's onSend hooks: it must write.
  }
}
