import { type Observable, of } from 'rxjs';
import type { HttpExchange } from '../../core/http/http-facade.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { matchesEtag } from '../engine/etag.js';
import type { CacheReporter } from './cache-reporter.js';
import { NotModifiedException } from './not-modified.exception.js';
import { markPrivate } from './response-capture.js';

/**
 * Where an answer from the cache came from: the in-process L1, Redis, or a stale entry
 * (served while it is refreshed, or because the handler or Redis failed).
 */
export type HitSource = 'l1' | 'l2' | { stale: 'revalidate' | 'error'; tier?: 'l1' | 'l2' };

/**
 * Answers a request from a stored entry (or a leader's fresh one): its stored headers,
 * its ETag and `Age`, `X-Cache-Status: HIT` (`STALE` for a stale entry), `private` for a
 * per-user entry, and a 304 (thrown as {@link NotModifiedException}) when `If-None-Match`
 * matches, else the stored bytes. Counts the hit by its source.
 *
 * @param now The current time in ms, for `Age`.
 */
export function serveHit(
  exchange: HttpExchange,
  entry: CachedResponse,
  perUser: boolean,
  reporter: CacheReporter,
  source: HitSource = 'l2',
  now = Date.now(),
): Observable<unknown> {
  setHitHeaders(exchange, entry, perUser, reporter, source, now);
  return of(exchange.textBody(entry.body));
}

/** {@link serveHit}'s headers (and counts) without the body; throws the 304. */
export function setHitHeaders(
  exchange: HttpExchange,
  entry: CachedResponse,
  perUser: boolean,
  reporter: CacheReporter,
  source: HitSource = 'l2',
  now = Date.now(),
): void {
  const stale = typeof source === 'object';
  // A stale answer is a hit too (from Redis unless said otherwise), counted by its reason besides.
  reporter.hit(stale ? (source.tier ?? 'l2') : source);
  if (stale) reporter.stale(source.stale);
  for (const [name, value] of Object.entries(entry.headers)) exchange.setHeader(name, value);
  exchange.setHeader('ETag', entry.etag);
  exchange.setHeader('Age', String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))));
  reporter.status(exchange, stale ? 'STALE' : 'HIT');
  if (perUser) markPrivate(exchange);
  if (matchesEtag(exchange.header('if-none-match'), entry.etag)) throw new NotModifiedException();
}
