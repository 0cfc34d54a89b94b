import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { lastValueFrom } from 'rxjs';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { cacheStatusOf, httpExchange } from '../../core/http/http-facade.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { etagOf } from '../engine/etag.js';
import { serveHit } from './cache-hit.js';
import { CacheReporter } from './cache-reporter.js';
import { NotModifiedException } from './not-modified.exception.js';

const BODY = Buffer.from('{"id":1}');
const STORED_AT = 1_700_000_000_000;
const ENTRY: CachedResponse = {
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8', 'content-language': 'en' },
  body: BODY,
  storedAt: STORED_AT,
  etag: etagOf(BODY),
};

function setup(headers: Record<string, string> = {}) {
  const req = Object.assign(new IncomingMessage(new Socket()), {
    method: 'GET',
    url: '/items/1',
    headers,
    route: { path: '/items/:id' },
    baseUrl: '',
  });
  const res = new ServerResponse(req);
  const context = {
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
  const counter = { hit: jest.fn(), miss: jest.fn() };
  const events = new ShieldEvents();
  const lookups: string[] = [];
  events.on('cache.lookup', ({ route, status }) => lookups.push(`${route} ${status}`));
  const reporter = new CacheReporter(counter, events, { warn: jest.fn() });
  return { req, res, exchange: httpExchange(context), reporter, counter, lookups };
}

describe('serveHit', () => {
  it('answers with the stored bytes, headers, ETag, Age and HIT, in that order, and counts the hit', async () => {
    const { req, res, exchange, reporter, counter, lookups } = setup();
    const body = await lastValueFrom(serveHit(exchange, ENTRY, false, reporter, 'l2', STORED_AT + 61_999));
    expect(body).toBe('{"id":1}'); // Express: a string sent as is
    expect(res.getHeaderNames()).toEqual(['content-type', 'content-language', 'etag', 'age', 'x-cache-status']);
    expect(res.getHeader('etag')).toBe(ENTRY.etag);
    expect(res.getHeader('age')).toBe('61');
    expect(res.getHeader('x-cache-status')).toBe('HIT');
    expect(cacheStatusOf(req)).toBe('HIT');
    expect(lookups).toEqual(['/items/:id HIT']);
    expect(counter.hit).toHaveBeenCalledTimes(1);
  });

  it('never says a negative Age (a clock behind the writer)', () => {
    const { res, exchange, reporter } = setup();
    serveHit(exchange, ENTRY, false, reporter, 'l2', STORED_AT - 5_000);
    expect(res.getHeader('age')).toBe('0');
  });

  it('marks a per-user entry private, varying on Authorization', () => {
    const { res, exchange, reporter } = setup();
    serveHit(exchange, { ...ENTRY, headers: { 'cache-control': 'max-age=60' } }, true, reporter, 'l2', STORED_AT);
    expect(res.getHeader('cache-control')).toBe('private, max-age=60');
    expect(res.getHeader('vary')).toBe('Authorization');
  });

  it('throws a 304 after setting the headers when If-None-Match matches', () => {
    const { res, exchange, reporter, counter, lookups } = setup({ 'if-none-match': `W/${ENTRY.etag}` });
    expect(() => serveHit(exchange, ENTRY, false, reporter, 'l2', STORED_AT)).toThrow(NotModifiedException);
    expect(res.getHeader('etag')).toBe(ENTRY.etag);
    expect(res.getHeader('x-cache-status')).toBe('HIT');
    expect(lookups).toEqual(['/items/:id HIT']);
    expect(counter.hit).toHaveBeenCalledTimes(1);
  });

  it('answers the body when If-None-Match names another ETag', async () => {
    const { exchange, reporter } = setup({ 'if-none-match': '"stale"' });
    expect(await lastValueFrom(serveHit(exchange, ENTRY, false, reporter, 'l2', STORED_AT))).toBe('{"id":1}');
  });
});
