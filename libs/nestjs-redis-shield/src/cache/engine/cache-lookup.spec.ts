import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { MEMO_MAX_INPUT_LENGTH } from '../../core/bounded-memo.js';
import { requestDeadline } from '../../core/deadline.js';
import { requestState } from '../../core/request-state.js';
import type { CacheRoute } from '../nest/cache-route.js';
import { type LookupOptions, type LookupRequest, lookupOf, userIdOf } from './cache-lookup.js';
import type { KeyedScope } from './cache-scope.js';

const OPTIONS: LookupOptions = { keyVersion: '1', keyByHost: false, honorRequestCacheControl: 'per-user' };
const SHARED: KeyedScope = { kind: 'shared', key: 'shared' };
const ALICE: KeyedScope = { kind: 'user', key: 'user:alice-hmac', userId: 'alice' };

function route(overrides: Partial<CacheRoute> = {}): CacheRoute {
  return {
    id: 'ItemsController.one',
    ttlMs: 60_000,
    shared: false,
    vary: [],
    learnedVary: new Set(),
    hostRouted: false,
    tags: [],
    status: 200,
    staleWhileRevalidateMs: 0,
    staleIfErrorMs: 0,
    respectResponseCacheControl: false,
    ...overrides,
  };
}

/** A request as the facade shows it: a real Node request under `raw`, so per-request state attaches to it. */
function request(
  url: string,
  {
    headers = {},
    template,
    params = {},
    host = 'api.example.com',
    protocol = 'http',
  }: {
    headers?: Record<string, string>;
    template?: string;
    params?: Record<string, string>;
    host?: string;
    protocol?: string;
  } = {},
): LookupRequest {
  const raw = Object.assign(new IncomingMessage(new Socket()), { url });
  return { raw, routeTemplate: template, params, header: (name) => headers[name], host, protocol };
}

const digestOf = (
  exchange: LookupRequest,
  r = route(),
  scope: KeyedScope = SHARED,
  version?: string,
  options = OPTIONS,
) => lookupOf(exchange, r, scope, version, options, 1000).digest;

describe('lookupOf', () => {
  it('gives requests that shape the same response the same digest, whatever their spelling', () => {
    const items = { template: '/items/:id', params: { id: 'a b' } };
    expect(digestOf(request('/items/a%20b?x=1&y=2', items))).toBe(digestOf(request('/ITEMS/a b/?y=2&x=1', items)));
  });

  it('keys by query, scope, API version, route and key version', () => {
    const base = digestOf(request('/items?x=1'));
    expect(digestOf(request('/items?x=2'))).not.toBe(base);
    expect(digestOf(request('/items?x=1'), route(), ALICE)).not.toBe(base);
    expect(digestOf(request('/items?x=1'), route(), SHARED, '2')).not.toBe(base);
    expect(digestOf(request('/items?x=1'), route({ id: 'ItemsController.other' }))).not.toBe(base);
    expect(digestOf(request('/items?x=1'), route(), SHARED, undefined, { ...OPTIONS, keyVersion: '2' })).not.toBe(base);
  });

  it('keys by the host and scheme only with keyByHost or on a host-routed controller', () => {
    const a = request('/items', { host: 'a.example.com' });
    const b = request('/items', { host: 'b.example.com', protocol: 'https' });
    expect(digestOf(a)).toBe(digestOf(b));
    const byHost = { ...OPTIONS, keyByHost: true };
    expect(digestOf(a, route(), SHARED, undefined, byHost)).not.toBe(digestOf(b, route(), SHARED, undefined, byHost));
    const hostRouted = route({ hostRouted: true });
    expect(digestOf(a, hostRouted)).not.toBe(digestOf(b, hostRouted));
  });

  it('keys by the declared and the learned vary headers, and lists them', () => {
    const r = route({ vary: ['accept-language'] });
    // A new request each time: a request's lookup is made once.
    const en = () => request('/items', { headers: { 'accept-language': 'en', 'x-tenant': 't1' } });
    const fr = () => request('/items', { headers: { 'accept-language': 'fr', 'x-tenant': 't1' } });
    const t2 = () => request('/items', { headers: { 'accept-language': 'en', 'x-tenant': 't2' } });
    expect(digestOf(en(), r)).not.toBe(digestOf(fr(), r));
    expect(digestOf(en(), r)).toBe(digestOf(t2(), r)); // x-tenant not keyed yet
    r.learnedVary.add('x-tenant');
    expect(digestOf(en(), r)).not.toBe(digestOf(t2(), r));
    expect([...lookupOf(request('/items'), r, SHARED, undefined, OPTIONS, 1000).keyedHeaders]).toEqual([
      'accept-language',
      'x-tenant',
    ]);
  });

  it("remembers a route's key parts by their inputs: the same target again reads no route parameters", () => {
    const r = route({ vary: ['accept-language'] });
    const items = (url: string, id: string, language = 'en') => {
      const exchange = request(url, { template: '/items/:id', headers: { 'accept-language': language } });
      let reads = 0;
      Object.defineProperty(exchange, 'params', {
        get: () => {
          reads += 1;
          return { id };
        },
      });
      return { exchange, reads: () => reads };
    };
    const first = items('/items/a?x=1', 'a');
    const digest = digestOf(first.exchange, r);
    expect(first.reads()).toBe(1);
    const again = items('/items/a?x=1', 'a');
    expect(lookupOf(again.exchange, r, SHARED, undefined, OPTIONS, 1000)).toMatchObject({ digest, path: '/items/a' });
    expect(again.reads()).toBe(0);
    // Any other input is computed afresh: target, keyed header, scope, version, key version.
    for (const [other, scope, version, options] of [
      [items('/items/b?x=1', 'b'), SHARED, undefined, OPTIONS],
      [items('/items/a?x=2', 'a'), SHARED, undefined, OPTIONS],
      [items('/items/a?x=1', 'a', 'fr'), SHARED, undefined, OPTIONS],
      [items('/items/a?x=1', 'a'), ALICE, undefined, OPTIONS],
      [items('/items/a?x=1', 'a'), SHARED, '2', OPTIONS],
      [items('/items/a?x=1', 'a'), SHARED, undefined, { ...OPTIONS, keyVersion: '2' }],
    ] as const) {
      expect(digestOf(other.exchange, r, scope, version, options)).not.toBe(digest);
      expect(other.reads()).toBe(1);
    }
  });

  it('keys a target near the header size limit afresh every time, never keeping it', () => {
    const r = route();
    const long = `/items/a?q=${'x'.repeat(MEMO_MAX_INPUT_LENGTH)}`;
    let reads = 0;
    const exchange = () => {
      const made = request(long, { template: '/items/:id' });
      Object.defineProperty(made, 'params', {
        get: () => {
          reads += 1;
          return { id: 'a' };
        },
      });
      return made;
    };
    const digest = digestOf(exchange(), r);
    expect(digestOf(exchange(), r)).toBe(digest);
    expect(reads).toBe(2);
  });

  it('records the canonical path from the template, else the path as sent', () => {
    const templated = request('/Items/a%2Fb?x=1', { template: '/items/:id', params: { id: 'a/b' } });
    expect(lookupOf(templated, route(), SHARED, undefined, OPTIONS, 1000).path).toBe('/items/a%2Fb');
    expect(lookupOf(request('/raw/path?x=1'), route(), SHARED, undefined, OPTIONS, 1000).path).toBe('/raw/path');
  });

  it("reads the request's directives for its scope", () => {
    const noCache = () => request('/items', { headers: { 'cache-control': 'no-cache' } });
    expect(lookupOf(noCache(), route(), SHARED, undefined, OPTIONS, 1000).directives).toEqual({
      read: true,
      write: true,
    });
    expect(lookupOf(noCache(), route(), ALICE, undefined, OPTIONS, 1000).directives).toEqual({
      read: false,
      write: true,
    });
  });

  it("gives the request's deadline, created with the budget on first use", () => {
    const exchange = request('/items');
    const lookup = lookupOf(exchange, route(), SHARED, undefined, OPTIONS, 1234);
    expect(lookup.deadline).toBe(requestDeadline(exchange.raw, 1));
    expect(lookup.deadline.remainingMs()).toBeLessThanOrEqual(1234);
    expect(lookup.deadline.remainingMs()).toBeGreaterThan(1000);
  });

  it('is made once per request, route and scope: a second call returns it with its read', () => {
    const exchange = request('/items');
    const r = route();
    const first = lookupOf(exchange, r, SHARED, undefined, OPTIONS, 1000);
    first.read = Promise.resolve({ entry: null, lease: 'none' });
    expect(lookupOf(exchange, r, { kind: 'shared', key: 'shared' }, undefined, OPTIONS, 1000)).toBe(first);
  });

  it('is replaced under another scope or route, its read dropped, its deadline kept', () => {
    const exchange = request('/items');
    const r = route();
    const prefetched = lookupOf(exchange, r, SHARED, undefined, OPTIONS, 1000);
    prefetched.read = Promise.resolve({ entry: null, lease: 'none' });
    const decided = lookupOf(exchange, r, ALICE, undefined, OPTIONS, 1000);
    expect(decided).not.toBe(prefetched);
    expect(decided.scope).toBe(ALICE);
    expect(decided.read).toBeUndefined();
    expect(decided.deadline).toBe(prefetched.deadline);
    expect(decided.digest).not.toBe(prefetched.digest);
    const other = lookupOf(exchange, route({ id: 'Other.route' }), ALICE, undefined, OPTIONS, 1000);
    expect(other).not.toBe(decided);
  });

  it("is kept in the request's state, not in a property of its own on the request", () => {
    const exchange = request('/items');
    const state = requestState(exchange.raw);
    const keys = Reflect.ownKeys(exchange.raw);
    const lookup = lookupOf(exchange, route(), SHARED, undefined, OPTIONS, 1000);
    expect(state.cacheLookup).toBe(lookup);
    expect(Reflect.ownKeys(exchange.raw)).toEqual(keys);
  });
});

describe('userIdOf', () => {
  it('is the raw user id of a per-user scope, undefined when shared', () => {
    expect(userIdOf(ALICE)).toBe('alice');
    expect(userIdOf(SHARED)).toBeUndefined();
  });
});
