import { jest } from '@jest/globals';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import onHeaders from 'on-headers';
import { lastValueFrom, of, Subject } from 'rxjs';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { cacheStatusOf, httpExchange } from '../../core/http/http-facade.js';
import { SingleFlight } from '../../core/single-flight.js';
import { lookupOf } from '../engine/cache-lookup.js';
import type { KeyedScope } from '../engine/cache-scope.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { etagOf } from '../engine/etag.js';
import { CacheMiss, type MissStore } from './cache-miss.js';
import { CacheReporter } from './cache-reporter.js';
import type { CacheRoute } from './cache-route.js';
import type { ResponseCacheWriter } from './response-cache.writer.js';
import { STORED_HEADERS } from './response-capture.js';

const SHARED: KeyedScope = { kind: 'shared', key: 'shared' };
const ALICE: KeyedScope = { kind: 'user', key: 'user:alice-hmac', userId: 'alice' };
const MAX_VARIANTS = 3;

/** A promise settled from outside. */
function deferred() {
  let resolve!: (stored?: boolean) => void;
  const promise = new Promise<boolean>((ok) => (resolve = (stored = true) => ok(stored)));
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
const ticks = () => new Promise((resolve) => setImmediate(resolve));

function cacheRoute(): CacheRoute {
  return {
    id: 'ItemsController.one',
    ttlMs: 60_000,
    shared: false,
    vary: [],
    learnedVary: new Set(),
    hostRouted: false,
    tags: ['items'],
    status: 200,
    staleWhileRevalidateMs: 0,
    staleIfErrorMs: 0,
    respectResponseCacheControl: false,
  };
}

function setup({
  method = 'GET',
  headers = {},
  scope = SHARED,
  store = {},
}: {
  method?: string;
  headers?: Record<string, string>;
  scope?: KeyedScope;
  store?: { generation?: () => Promise<string>; variants?: number; pruned?: number };
} = {}) {
  const route = cacheRoute();
  const fakeStore = {
    generation: jest.fn(store.generation ?? (async () => '7')),
    liveVariants: jest.fn(async () => store.variants ?? 0),
    pruneVariants: jest.fn(async () => store.pruned ?? 0),
  } satisfies MissStore;
  const written = deferred();
  const writer = { write: jest.fn<ResponseCacheWriter['write']>(() => written.promise), track: jest.fn() };
  const counter = { hit: jest.fn(), miss: jest.fn() };
  const events = new ShieldEvents();
  const lookups: string[] = [];
  events.on('cache.lookup', ({ route: template, status }) => lookups.push(`${template} ${status}`));
  const flights = new SingleFlight<CachedResponse | undefined>();
  const miss = new CacheMiss(
    { maxVariants: MAX_VARIANTS, maxEntryBytes: 1000 },
    STORED_HEADERS,
    fakeStore,
    writer,
    new CacheReporter(counter, events, { warn: jest.fn() }),
    flights,
  );

  /** One request of the route: a real Node request and response behind the facade. */
  const request = () => {
    const req = Object.assign(new IncomingMessage(new Socket()), {
      method,
      url: '/items/1?x=1',
      headers,
      route: { path: '/items/:id' },
      baseUrl: '',
      params: { id: '1' },
    });
    const res = new ServerResponse(req);
    const context = {
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
    } as unknown as ExecutionContext;
    const exchange = httpExchange(context);
    const lookup = lookupOf(
      exchange,
      route,
      scope,
      undefined,
      { keyVersion: '1', keyByHost: false, honorRequestCacheControl: 'per-user' },
      1000,
    );
    /** Runs the miss with a handler answering `result`; resolves with what goes to the adapter. */
    const serve = (result: CallHandler['handle'] | unknown = { id: 1 }) =>
      lastValueFrom(
        miss.serve(
          exchange,
          { handle: typeof result === 'function' ? (result as CallHandler['handle']) : () => of(result) },
          lookup,
        ),
      );
    /** The adapter writes the headers, then the response completes. */
    const send = (status = 200) => {
      res.writeHead(status);
      res.emit('finish');
    };
    return { req, res, exchange, lookup, serve, send };
  };
  return { route, store: fakeStore, writer, written, counter, lookups, flights, request };
}

describe('CacheMiss', () => {
  it('sends the body as bytes with its ETag and type, says MISS when the headers go out and stores it once sent', async () => {
    const { writer, written, counter, lookups, request, flights } = setup();
    const { req, res, lookup, serve, send } = request();
    const body = Buffer.from('{"id":1}');
    expect(await serve()).toBe('{"id":1}');
    expect(res.getHeader('etag')).toBe(etagOf(body));
    expect(res.getHeader('content-type')).toBe('application/json; charset=utf-8');
    expect(writer.write).not.toHaveBeenCalled(); // not before the response is complete

    send();
    expect(res.getHeader('x-cache-status')).toBe('MISS');
    expect(cacheStatusOf(req)).toBe('MISS');
    expect(lookups).toEqual(['/items/:id MISS']);
    expect(counter.miss).toHaveBeenCalledTimes(1);
    expect(writer.write).toHaveBeenCalledTimes(1);
    const [ref, entry, ttlMs, generation] = writer.write.mock.calls[0];
    expect(ref).toEqual({
      digest: lookup.digest,
      route: { id: 'ItemsController.one', template: '/items/:id' },
      path: '/items/1',
      userId: undefined,
      tags: ['items'],
      maxVariants: MAX_VARIANTS,
    });
    expect(entry).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', etag: etagOf(body) },
      body,
      storedAt: expect.any(Number),
      etag: etagOf(body),
      freshMs: 60_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 0,
    });
    expect(ttlMs).toBe(60_000);
    expect(generation).toBe('7');
    written.resolve();
    await ticks();
    expect(flights.size).toBe(0);
  });

  it('leads its digest: followers get the entry, and the digest stays led until the write landed', async () => {
    const { written, flights, request } = setup();
    const leader = request();
    await leader.serve();
    const follower = flights.follow(leader.lookup.digest, 1000);
    expect(follower).toBeDefined();
    // A second miss of the digest meanwhile runs on its own and never releases the leader's claim.
    const other = request();
    await other.serve();
    other.res.emit('close');
    expect(flights.get(leader.lookup.digest)).toBeDefined();

    leader.send();
    const entry = await follower!;
    expect(entry?.body.toString()).toBe('{"id":1}');
    // Written to Redis not yet: a request arriving now still joins the leader.
    leader.res.emit('close');
    expect(await flights.follow(leader.lookup.digest, 1000)).toBe(entry);
    written.resolve();
    await ticks();
    expect(flights.get(leader.lookup.digest)).toBeUndefined();
  });

  it('stores per-user entries privately, under the user', async () => {
    const { writer, request } = setup({ scope: ALICE });
    const { res, serve, send } = request();
    await serve();
    expect(res.getHeader('cache-control')).toBe('private');
    expect(res.getHeader('vary')).toBe('Authorization');
    send();
    expect(res.getHeader('x-cache-status')).toBe('MISS');
    expect(writer.write.mock.calls[0][0].userId).toBe('alice');
  });

  it('keeps a content type the handler set, and stores a string as HTML', async () => {
    const { request } = setup();
    const typed = request();
    typed.res.setHeader('Content-Type', 'text/plain');
    expect(await typed.serve('plain')).toBe('plain');
    expect(typed.res.getHeader('content-type')).toBe('text/plain');
    const html = request();
    await html.serve('<p>');
    expect(html.res.getHeader('content-type')).toBe('text/html; charset=utf-8');
  });

  it('answers BYPASS for a result it cannot capture, releasing followers with nothing', async () => {
    const { writer, lookups, request, flights } = setup();
    const { res, lookup, serve, send } = request();
    const bytes = Buffer.from('raw');
    const pending = serve(bytes);
    const follower = flights.follow(lookup.digest, 1000);
    expect(await pending).toBe(bytes);
    expect(await follower).toBeUndefined();
    expect(res.getHeader('x-cache-status')).toBe('BYPASS');
    expect(lookups).toEqual(['/items/:id BYPASS']);
    send();
    expect(writer.write).not.toHaveBeenCalled();
    expect(flights.size).toBe(0);
  });

  it('stores nothing when the handler fails, even after a value, and lets the followers run', async () => {
    const { writer, lookups, request, flights } = setup();
    const { res, lookup, serve } = request();
    const values = new Subject<unknown>();
    const pending = serve(() => values);
    const follower = flights.follow(lookup.digest, 1000);
    values.next({ partial: true });
    values.error(new Error('boom'));
    await expect(pending).rejects.toThrow('boom');
    expect(await follower).toBeUndefined();
    expect(flights.size).toBe(0);
    expect(lookups).toEqual(['/items/:id BYPASS']);
    expect(res.getHeader('x-cache-status')).toBeUndefined(); // the error response says nothing
    expect(writer.write).not.toHaveBeenCalled();
  });

  it("stores the last of the handler's values", async () => {
    const { writer, request } = setup();
    const { serve, send } = request();
    expect(await serve(() => of({ n: 1 }, { n: 2 }))).toBe('{"n":2}');
    send();
    expect(writer.write.mock.calls[0][1].body.toString()).toBe('{"n":2}');
  });

  it('decides on the headers as finally written: a Set-Cookie added after the handler means BYPASS', async () => {
    const { writer, counter, lookups, request, flights } = setup();
    const { res, serve, send } = request();
    await serve();
    res.setHeader('Set-Cookie', 'sid=1'); // e.g. an outer interceptor
    send();
    expect(res.getHeader('x-cache-status')).toBe('BYPASS');
    expect(lookups).toEqual(['/items/:id BYPASS']);
    expect(writer.write).not.toHaveBeenCalled();
    expect(counter.miss).not.toHaveBeenCalled();
    expect(flights.size).toBe(0);
  });

  it('corrects the recorded status when a header set after its own forbade storing', async () => {
    const { writer, request } = setup();
    const { req, res, serve, send } = request();
    // Hooked before the cache (a session middleware): on-headers runs it after the cache's hook.
    onHeaders(res, () => res.setHeader('Cache-Control', 'no-store'));
    await serve();
    send();
    expect(res.getHeader('x-cache-status')).toBe('MISS'); // what the headers said then
    expect(cacheStatusOf(req)).toBe('BYPASS');
    expect(writer.write).not.toHaveBeenCalled();
  });

  it('learns an undeclared Vary header for the route and stores nothing this time', async () => {
    const { route, writer, request } = setup();
    const { res, serve, send } = request();
    await serve();
    res.setHeader('Vary', 'X-Tenant');
    send();
    expect(res.getHeader('x-cache-status')).toBe('BYPASS');
    expect([...route.learnedVary]).toEqual(['x-tenant']);
    expect(writer.write).not.toHaveBeenCalled();
  });

  it('stores nothing and reads nothing for no-store, nor for a HEAD', async () => {
    for (const options of [{ scope: ALICE, headers: { 'cache-control': 'no-store' } }, { method: 'HEAD' }]) {
      const { store, writer, request } = setup(options);
      const { res, serve, send } = request();
      await serve();
      send();
      expect(res.getHeader('x-cache-status')).toBe('BYPASS');
      expect(store.generation).not.toHaveBeenCalled();
      expect(writer.write).not.toHaveBeenCalled();
    }
  });

  it('stores nothing when Redis cannot tell the generation', async () => {
    const { writer, request } = setup({
      store: {
        generation: async () => {
          throw new Error('unavailable');
        },
      },
    });
    const { res, serve, send } = request();
    expect(await serve()).toBe('{"id":1}');
    send();
    expect(res.getHeader('x-cache-status')).toBe('BYPASS');
    expect(writer.write).not.toHaveBeenCalled();
  });

  it('at the variant cap, recounts once per generation and stores only below the cap', async () => {
    const { store, writer, request } = setup({ store: { variants: MAX_VARIANTS, pruned: MAX_VARIANTS - 1 } });
    const first = request();
    await first.serve();
    first.send();
    expect(store.pruneVariants).toHaveBeenCalledWith('ItemsController.one', undefined, MAX_VARIANTS, {
      deadline: first.lookup.deadline,
    });
    expect(first.res.getHeader('x-cache-status')).toBe('MISS');
    expect(writer.write).toHaveBeenCalledTimes(1);
    // The next miss in the same generation trusts the index: at the cap, BYPASS.
    const second = request();
    await second.serve();
    second.send();
    expect(store.pruneVariants).toHaveBeenCalledTimes(1);
    expect(second.res.getHeader('x-cache-status')).toBe('BYPASS');
    expect(writer.write).toHaveBeenCalledTimes(1);
  });

  it('stores nothing for a response that never completes (the client went away)', async () => {
    const { writer, request, flights } = setup();
    const { res, lookup, serve } = request();
    await serve();
    const follower = flights.follow(lookup.digest, 1000);
    res.emit('close');
    expect(await follower).toBeUndefined();
    expect(flights.size).toBe(0);
    expect(writer.write).not.toHaveBeenCalled();
  });
});
