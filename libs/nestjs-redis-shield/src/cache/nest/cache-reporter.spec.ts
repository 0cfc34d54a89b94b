import { jest } from '@jest/globals';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { cacheStatusOf } from '../../core/http/http-facade.js';
import { CacheReporter } from './cache-reporter.js';

function setup() {
  const counter = { hit: jest.fn(), miss: jest.fn() };
  const warn = jest.fn();
  const events = new ShieldEvents();
  const seen: string[] = [];
  events.on('cache.lookup', ({ route, status }) => seen.push(`lookup ${route} ${status}`));
  events.on('cache.corrupt', ({ route }) => seen.push(`corrupt ${route}`));
  const reporter = new CacheReporter(counter, events, { warn });
  const headers = new Map<string, string>();
  /** A request of the route `routeTemplate` (null: no route matched). */
  const exchange = (routeTemplate: string | null = '/items/:id') => ({
    raw: new IncomingMessage(new Socket()),
    routeTemplate: routeTemplate ?? undefined,
    setHeader: (name: string, value: string) => void headers.set(name, value),
  });
  return { reporter, counter, warn, seen, headers, exchange };
}

describe('CacheReporter', () => {
  it('status: sets X-Cache-Status, records it for logs and emits one cache.lookup', () => {
    const { reporter, seen, headers, exchange } = setup();
    const request = exchange();
    reporter.status(request, 'BYPASS');
    expect(headers.get('X-Cache-Status')).toBe('BYPASS');
    expect(cacheStatusOf(request.raw)).toBe('BYPASS');
    expect(seen).toEqual(['lookup /items/:id BYPASS']);
  });

  it('recorded: records and emits without touching the headers (they are written already)', () => {
    const { reporter, seen, headers, exchange } = setup();
    const request = exchange(null);
    reporter.recorded(request, 'MISS');
    expect(headers.size).toBe(0);
    expect(cacheStatusOf(request.raw)).toBe('MISS');
    expect(seen).toEqual(['lookup unknown MISS']); // no route template: 'unknown'
  });

  it('lookedUp: only the event', () => {
    const { reporter, seen, headers, exchange } = setup();
    const request = exchange();
    reporter.lookedUp(request, 'BYPASS');
    expect(headers.size).toBe(0);
    expect(cacheStatusOf(request.raw)).toBeUndefined();
    expect(seen).toEqual(['lookup /items/:id BYPASS']);
  });

  it('counts hits and misses', () => {
    const { reporter, counter } = setup();
    reporter.hit();
    reporter.hit();
    reporter.miss();
    expect(counter.hit).toHaveBeenCalledTimes(2);
    expect(counter.miss).toHaveBeenCalledTimes(1);
  });

  it('warns once per key, and every time through warn', () => {
    const { reporter, warn } = setup();
    reporter.warnOnce('A.b', 'first');
    reporter.warnOnce('A.b', 'again');
    reporter.warnOnce('A.c', 'other');
    reporter.warn('always');
    reporter.warn('always');
    expect(warn.mock.calls).toEqual([['first'], ['other'], ['always'], ['always']]);
  });

  it('logs a corrupt entry once per route and counts every one', () => {
    const { reporter, warn, seen, exchange } = setup();
    reporter.corrupt(exchange(), 'ItemsController.one', new Error('bad magic'));
    reporter.corrupt(exchange(), 'ItemsController.one', new Error('bad length'));
    expect(warn.mock.calls).toEqual([
      ['corrupt entry of ItemsController.one deleted and recomputed (bad magic); further ones are counted, not logged'],
    ]);
    expect(seen).toEqual(['corrupt /items/:id', 'corrupt /items/:id']);
  });
});
