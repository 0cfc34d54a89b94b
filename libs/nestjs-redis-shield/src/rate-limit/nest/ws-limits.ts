import type { ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { requestState } from '../../core/request-state.js';
import { clientAddressResolverOf, type HttpAdapterLike } from '../../core/http/proxy-trust.js';
import { defaultUserId, IpAllowlist, ipClientId, normalizeIp, userClientId } from '../engine/client-id.js';
import type { RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import type { RateLimitPolicy, RateLimitResult } from '../engine/rate-limit.types.js';
import type { ClientIdentity } from './client-identity.js';
import { RateLimit, SkipRateLimit } from './rate-limit.decorators.js';
import { RateLimitUnavailableException, rejectionOf } from './rate-limit.exceptions.js';
import type { RateLimiter } from './rate-limiter.js';

// Limits WebSocket messages (`@nestjs/websockets` on `ws` or socket.io) for the rate-limit
// guard, which hands every `ws` execution context here. Nothing of @nestjs/websockets is
// imported eagerly: the library must load in applications without it.

/** The metadata `@WebSocketGateway` and `@SubscribeMessage` write (constants of @nestjs/websockets). */
const GATEWAY_OPTIONS = 'websockets:gateway_options';
const MESSAGE_METADATA = 'message';

/** The WebSocket close code of a socket closed for its rejections (RFC 6455: policy violation). */
const POLICY_VIOLATION = 1008;

/** What is read of a socket.io `Socket`: its handshake, `data` and the handshake request. */
interface SocketIoClient {
  handshake: { address?: string; headers?: IncomingHttpHeaders };
  data?: { user?: unknown };
  request?: { user?: unknown };
  disconnect(close?: boolean): unknown;
}

/**
 * What is read of a `ws` WebSocket: `_socket`, the TCP socket it was upgraded from. Not
 * documented by `ws`, but there since its first release and what every `ws` application
 * reads the peer address from; without it a client is keyed as `ip:unknown`.
 */
interface WsClient {
  readyState: number;
  close(code?: number, reason?: string): void;
  _socket?: { remoteAddress?: string };
  data?: { user?: unknown };
  user?: unknown;
}

/** A gateway's options as `@WebSocketGateway` stores them (the parts that name it). */
interface GatewayOptions {
  namespace?: unknown;
  path?: unknown;
}

/** What is resolved once per message handler. */
interface WsRoute {
  controller: object;
  /** The handler's policies; undefined: not limited (no `@RateLimit`, or `@SkipRateLimit`). */
  policies: RateLimitPolicy[] | undefined;
  /** `ws:<namespace or path>:<message>`, the route the decision is reported under. */
  template: string;
}

/** Who connected, as read once per socket. */
interface WsPeer {
  /** The client address as the HTTP adapter would resolve it (trust-proxy aware), or the socket's. */
  address: string | undefined;
  /** `ip:<normalised address>`, as the HTTP path keys the same client. */
  addressId: string;
}

/** The upgrade request of each `ws` socket upgraded on a watched server, by its TCP socket. */
const upgradeRequests = new WeakMap<object, IncomingMessage & { user?: unknown }>();
/** Servers {@link watchUpgradeRequests} already listens to. */
const watchedServers = new WeakSet<object>();

/**
 * Remembers the upgrade request of every WebSocket opened on the application's HTTP
 * server, by its TCP socket: `ws` hands it to the connection event only, and the rate
 * limiter reads its headers (`X-Forwarded-For` where the adapter trusts the proxy, or a
 * `user` an upgrade middleware set) when a message of that socket arrives. Idempotent;
 * nothing without an HTTP server.
 */
export function watchUpgradeRequests(adapter: { getHttpServer(): unknown } | undefined): void {
  const server = adapter?.getHttpServer() as EventEmitter | undefined;
  if (typeof server?.on !== 'function' || watchedServers.has(server)) return;
  watchedServers.add(server);
  server.on('upgrade', (request: IncomingMessage) => upgradeRequests.set(request.socket, request));
}

/** `WsException` of @nestjs/websockets, loaded on the first message (an application with gateways has it). */
let wsExceptionClass: Promise<new (error: string | object) => Error> | undefined;
function wsException(error: object): Promise<Error> {
  wsExceptionClass ??= import('@nestjs/websockets').then((module) => module.WsException);
  return wsExceptionClass.then((WsException) => new WsException(error));
}

function isSocketIo(client: unknown): client is SocketIoClient {
  return typeof client === 'object' && client !== null && typeof (client as SocketIoClient).handshake === 'object';
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The gateway's name in route templates: its socket.io namespace, else its path, else `/`. */
function gatewayName(gateway: object): string {
  const options = (Reflect.getMetadata(GATEWAY_OPTIONS, gateway) ?? {}) as GatewayOptions;
  const { namespace, path } = options;
  // A dynamic namespace (a RegExp or a function) names many namespaces: its source, not each name.
  const name = typeof namespace === 'string' ? namespace : namespace ? String(namespace) : path;
  if (typeof name !== 'string' || name === '') return '/';
  return name.startsWith('/') || typeof namespace !== 'string' ? name : `/${name}`;
}

/**
 * The rate limit of WebSocket messages: for each message of a handler with `@RateLimit`
 * (on the handler or its gateway; handler wins), one decision by the handler's policies
 * for the client, the user from the handshake (`client.data.user`, then the handshake
 * request's `user`; for `ws` also `client.user`) else the client's address, keyed and
 * HMAC'd as over HTTP. A rejection throws a `WsException` carrying the documented 429
 * body, which Nest sends as the `exception` event; the socket stays open unless
 * `websocket.closeAfterRejections` says otherwise.
 *
 * Handlers without `@RateLimit` are not limited: a message stream is not a request
 * stream, and the default policy's HTTP budgets would cut off chatty sockets.
 */
export class WebSocketLimits {
  private readonly routes = new WeakMap<object, WsRoute>();
  private readonly peers = new WeakMap<object, WsPeer>();
  private readonly rejections = new WeakMap<object, number>();
  private readonly allowlist: IpAllowlist;
  private readonly resolveAddress:
    ((peer: string | undefined, forwardedFor: string | undefined) => unknown) | undefined;

  constructor(
    private readonly reflector: Reflector,
    private readonly identity: ClientIdentity,
    private readonly limiter: RateLimiter,
    private readonly options: RateLimitModuleOptions,
    httpAdapter: HttpAdapterLike | undefined,
  ) {
    this.allowlist = new IpAllowlist(options.allowlist ?? []);
    this.resolveAddress = httpAdapter && clientAddressResolverOf(httpAdapter);
  }

  /** Decides one message: true to run the handler; throws the `WsException` of a rejection. */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.options.disabled) return true;
    const route = this.routeOf(context.getClass(), context.getHandler());
    if (!route.policies) return true;
    // The arguments of one message are one array for all its guards: a second guard
    // instance (global and `@UseGuards`) must not count the message again.
    const message = context.getArgs();
    const state = requestState(message);
    if (state.rateLimitDecided) return true;
    state.rateLimitDecided = true;

    const client = context.switchToWs().getClient<object>();
    const peer = this.peerOf(client);
    if (this.allowlist.has(peer.address)) return true;
    const { result } = await this.limiter
      .consume({
        request: message,
        route: route.template,
        clientId: this.clientId(client, peer),
        policies: route.policies,
        cost: 1,
      })
      .catch(async (error: unknown) => {
        // Closed mode: the 503's body as the exception, not Nest's "Internal server error".
        if (error instanceof RateLimitUnavailableException) throw await wsException(error.getResponse() as object);
        throw error;
      });
    if (result.allowed) return true;
    return this.reject(client, result);
  }

  /** Sends the rejection (the 429 body) and, at the configured count, closes the socket once it went out. */
  private async reject(client: object, result: RateLimitResult): Promise<never> {
    const body = rejectionOf(result, 1, () => undefined).getResponse() as object;
    const limit = this.options.websocket?.closeAfterRejections;
    if (limit !== undefined) {
      const count = (this.rejections.get(client) ?? 0) + 1;
      this.rejections.set(client, count);
      // After the exception filter sent the rejection, which runs once this promise rejects.
      if (count === limit) setImmediate(() => close(client));
    }
    throw await wsException(body);
  }

  /** `user:<id>` of the handshake's user, else `ip:<address>`. */
  private clientId(client: object, peer: WsPeer): string {
    const userId = (this.options.userId ?? defaultUserId)(this.userOf(client));
    return userId === undefined ? peer.addressId : userClientId(userId);
  }

  /**
   * The authenticated user of a socket: what the application put in `client.data.user`
   * (socket.io's place for per-socket data; a handshake middleware or `handleConnection`
   * sets it), else the handshake request's `user` (set by an HTTP middleware that runs on
   * the upgrade, e.g. passport through `io.engine.use`); for `ws` also `client.user`.
   */
  private userOf(client: object): unknown {
    if (isSocketIo(client)) return client.data?.user ?? client.request?.user;
    const ws = client as WsClient;
    return ws.data?.user ?? ws.user ?? (ws._socket && upgradeRequests.get(ws._socket))?.user;
  }

  /**
   * Who connected, read once per socket: the address the HTTP adapter resolves for the
   * handshake (its trust-proxy setting decides whether `X-Forwarded-For` counts, as for
   * any request), else the socket's peer address; keyed by its `ipv6Subnet` like HTTP clients.
   */
  private peerOf(client: object): WsPeer {
    let peer = this.peers.get(client);
    if (peer) return peer;
    let connecting: string | undefined;
    let forwardedFor: string | undefined;
    if (isSocketIo(client)) {
      connecting = client.handshake.address;
      forwardedFor = firstValue(client.handshake.headers?.['x-forwarded-for']);
    } else {
      const socket = (client as WsClient)._socket;
      const request = socket && upgradeRequests.get(socket);
      connecting = socket?.remoteAddress ?? request?.socket.remoteAddress;
      // Only an upgrade the application's own server saw: a gateway on a port of its own has no adapter to trust a proxy.
      forwardedFor = request && firstValue(request.headers['x-forwarded-for']);
    }
    const resolved = this.resolveAddress?.(connecting, forwardedFor);
    const reported = typeof resolved === 'string' ? resolved : connecting;
    // A forged or malformed forwarded address is never keyed by its text: the connecting one instead.
    const address = normalizeIp(reported, this.options) !== undefined ? reported : connecting;
    peer = { address, addressId: ipClientId(address, this.options) };
    this.peers.set(client, peer);
    return peer;
  }

  /** The handler's policies (only with `@RateLimit`) and route template, once per handler. */
  private routeOf(controller: Type, handler: object): WsRoute {
    const known = this.routes.get(handler);
    if (known?.controller === controller) return known;
    const targets = [handler as Type, controller];
    const limited =
      this.reflector.getAllAndOverride(RateLimit, targets) !== undefined &&
      !this.reflector.getAllAndOverride(SkipRateLimit, targets);
    const message = Reflect.getMetadata(MESSAGE_METADATA, handler) as unknown;
    const route: WsRoute = {
      controller,
      policies: limited ? this.identity.routePolicies(controller, handler) : undefined,
      template: `ws:${gatewayName(controller)}:${typeof message === 'string' ? message : (handler as { name: string }).name}`,
    };
    this.routes.set(handler, route);
    return route;
  }
}

/** Closes a socket for its rejections: socket.io disconnects, `ws` closes with 1008. */
function close(client: object): void {
  if (isSocketIo(client)) client.disconnect(true);
  else if (typeof (client as WsClient).close === 'function')
    (client as WsClient).close(POLICY_VIOLATION, 'Rate limit exceeded');
}
