import { jest } from '@jest/globals';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { cacheStatusOf } from '../../core/http/http-facade.js';
import { CacheReporter } from './cache-reporter.js';

function setup() {
  const counter = { hit: jest.fn(), miss: jest.fn(), stale: jest.fn(), leaseWait: jest.fn(), refresh: jest.fn() };
  const warn = jest.fn();
  const events = new ShieldEvents();
  const seen: string[] = [];
  events.on('cache.lookup', ({ route, status }) => seen.push(`lookup ${route} ${status}`));
  events.on('cache.corrupt', ({ route }) => seen.push(`corrupt ${route}`));
  events.on('cache.hit', ({ tier }) => seen.push(`hit ${tier}`));
  events.on('cache.stale', ({ reason }) => seen.push(`stale ${reason}`));
  events.on('cache.lease.wait', ({ outcome }) => seen.push(`lease ${outcome}`));
  events.on('cache.refresh', ({ outcome }) => seen.push(`refresh ${outcome}`));
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

  it('counts a hit by its tier (Redis unless told L1) and emits cache.hit with it', () => {
    const { reporter, counter, seen } = setup();
    reporter.hit();
    reporter.hit('l1');
    reporter.hit('l2');
    expect(counter.hit.mock.calls).toEqual([['l2'], ['l1'], ['l2']]);
    expect(seen).toEqual(['hit l2', 'hit l1', 'hit l2']);
  });

  it('counts and emits stale serves, lease waits and background refreshes, each with its reason or outcome', () => {
    const { reporter, counter, seen } = setup();
    reporter.stale('revalidate');
    reporter.stale('error');
    reporter.leaseWait('filled');
    reporter.leaseWait('timeout');
    reporter.leaseWait('leader');
    reporter.refresh('stored');
    reporter.refresh('failed');
    expect(counter.stale.mock.calls).toEqual([['revalidate'], ['error']]);
    expect(counter.leaseWait.mock.calls).toEqual([['filled'], ['timeout'], ['leader']]);
    expect(counter.refresh.mock.calls).toEqual([['stored'], ['failed']]);
    expect(counter.hit).not.toHaveBeenCalled();
    expect(counter.miss).not.toHaveBeenCalled();
    expect(seen).toEqual([
      'stale revalidate',
      'stale error',
      'lease filled',
      'lease timeout',
      'lease leader',
      'refresh stored',
      'refresh failed',
    ]);
  });

  it('still emits the tallies over a counter that keeps only hits and misses', () => {
    const events = new ShieldEvents();
    const seen: string[] = [];
    events.on('cache.stale', ({ reason }) => seen.push(reason));
    events.on('cache.lease.wait', ({ outcome }) => seen.push(outcome));
    events.on('cache.refresh', ({ outcome }) => seen.push(outcome));
    const reporter = new CacheReporter({ hit: jest.fn(), miss: jest.fn() }, events, { warn: jest.fn() });
    reporter.stale('error');
    reporter.leaseWait('timeout');
    reporter.refresh('failed');
    expect(seen).toEqual(['error', 'timeout', 'failed']);
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
