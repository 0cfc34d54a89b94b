import type { ExecutionContext } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { requestDeadline } from './deadline.js';
import {
  cacheStatusOf,
  clientIdOf,
  httpExchange,
  recordCacheStatus,
  recordClientId,
  recordRouteTemplate,
  rememberConnectingAddresses,
  routeTemplateOf,
} from './http/http-facade.js';
import { existingRequestState, RequestState, requestState } from './request-state.js';

/** An Express-like request on `socket`, matched to `template`. */
function expressRequest(socket: object = {}, template?: string) {
  return {
    method: 'GET',
    headers: {},
    socket,
    baseUrl: '',
    ...(template === undefined ? {} : { route: { path: template } }),
  } as unknown as IncomingMessage;
}

function contextOf(request: object): ExecutionContext {
  return {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }),
  } as unknown as ExecutionContext;
}

describe('requestState', () => {
  it('is one object per request, created on first use', () => {
    const request = {};
    expect(existingRequestState(request)).toBeUndefined();
    const state = requestState(request);
    expect(state).toBeInstanceOf(RequestState);
    expect(requestState(request)).toBe(state);
    expect(existingRequestState(request)).toBe(state);
    expect(requestState({})).not.toBe(state);
  });

  it('starts empty', () => {
    expect({ ...requestState({}) }).toEqual({
      routeTemplate: undefined,
      clientId: undefined,
      cacheStatus: undefined,
      deadline: undefined,
      rateLimitDecided: false,
      cacheLookup: undefined,
      cacheRouteSlot: undefined,
      guardRejection: undefined,
    });
  });

  it("holds the request's deadline: requestDeadline creates it once, with the first budget", () => {
    const request = {};
    const deadline = requestDeadline(request, 100);
    expect(requestState(request).deadline).toBe(deadline);
    expect(requestDeadline(request, 5000)).toBe(deadline);
    expect(deadline.budgetMs).toBe(100);
  });

  it('a plain Node request holds its state under one symbol of the library: no string key, no global symbol', () => {
    const request = new IncomingMessage(new Socket());
    const keys = Reflect.ownKeys(request);
    recordClientId(request, 'ip:203.0.113.7');
    recordCacheStatus(request, 'HIT');
    requestDeadline(request, 100);
    const added = Reflect.ownKeys(request).filter((key) => !keys.includes(key));
    expect(added).toHaveLength(1);
    const [symbol] = added;
    expect(typeof symbol).toBe('symbol');
    expect(Symbol.keyFor(symbol as symbol)).toBeUndefined();
    expect(Object.keys(request)).toEqual(keys.filter((key) => typeof key === 'string'));
    expect((request as unknown as Record<symbol, unknown>)[symbol as symbol]).toBe(requestState(request));
    expect(clientIdOf(request)).toBe('ip:203.0.113.7');
  });

  it("writes nothing onto any other request (Express's, whose prototype Express replaced)", () => {
    const request = expressRequest({}, '/items/:id');
    const keys = Reflect.ownKeys(request);
    recordRouteTemplate(httpExchange(contextOf(request)));
    recordClientId(request, 'ip:203.0.113.7');
    recordCacheStatus(request, 'HIT');
    requestDeadline(request, 100);
    expect(Reflect.ownKeys(request)).toEqual(keys);
    expect(existingRequestState(request)?.clientId).toBe('ip:203.0.113.7');
    const express = Object.setPrototypeOf(new IncomingMessage(new Socket()), Object.create(IncomingMessage.prototype));
    const before = Reflect.ownKeys(express);
    recordCacheStatus(express, 'MISS');
    expect(Reflect.ownKeys(express)).toEqual(before);
    expect(cacheStatusOf(express)).toBe('MISS');
  });

  it('keeps the state of a Node request that cannot take a property beside it', () => {
    const request = Object.freeze(new IncomingMessage(new Socket()));
    expect(existingRequestState(request)).toBeUndefined();
    recordClientId(request, 'ip:203.0.113.7');
    recordCacheStatus(request, 'HIT');
    const state = requestState(request);
    expect(state.clientId).toBe('ip:203.0.113.7');
    expect(existingRequestState(request)).toBe(state);
    expect(cacheStatusOf(request)).toBe('HIT');
    expect(requestState(Object.freeze(new IncomingMessage(new Socket())))).not.toBe(state);
  });
});

describe("the facade's accessors read the request state", () => {
  it('route template, client id and cache status as recorded; undefined when not', () => {
    const request = expressRequest({}, '/items/:id');
    expect([routeTemplateOf(request), clientIdOf(request), cacheStatusOf(request)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    // Reading never creates state for a request the library did not touch.
    expect(existingRequestState(request)).toBeUndefined();
    recordRouteTemplate(httpExchange(contextOf(request)));
    recordClientId(request, 'user:42');
    recordCacheStatus(request, 'MISS');
    expect([routeTemplateOf(request), clientIdOf(request), cacheStatusOf(request)]).toEqual([
      '/items/:id',
      'user:42',
      'MISS',
    ]);
    expect(requestState(request)).toMatchObject({
      routeTemplate: '/items/:id',
      clientId: 'user:42',
      cacheStatus: 'MISS',
    });
  });

  it('records no route template for a request without a matched route', () => {
    const request = expressRequest();
    recordRouteTemplate(httpExchange(contextOf(request)));
    expect(routeTemplateOf(request)).toBeUndefined();
  });
});

describe('rememberConnectingAddresses', () => {
  it("keeps each socket's peer address from when its connection opened, also once the socket forgot it", () => {
    const server = new EventEmitter();
    expect(rememberConnectingAddresses(server)).toBe(true);
    expect(rememberConnectingAddresses(server)).toBe(false);
    const socket: { remoteAddress?: string } = { remoteAddress: '203.0.113.7' };
    server.emit('connection', socket);
    socket.remoteAddress = undefined; // destroyed: Node no longer reports it
    const exchange = httpExchange(contextOf(expressRequest(socket)));
    expect(exchange.connectingAddress).toBe('203.0.113.7');
    expect(exchange.ip).toBe('203.0.113.7');
    expect(Reflect.ownKeys(socket)).toEqual(['remoteAddress']);
  });

  it('reads a socket it never saw open from the socket itself; none without a socket', () => {
    expect(httpExchange(contextOf(expressRequest({ remoteAddress: '::1' }))).connectingAddress).toBe('::1');
    expect(httpExchange(contextOf(expressRequest(null as never))).connectingAddress).toBeUndefined();
  });
});
