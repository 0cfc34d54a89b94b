import { type Observable, of } from 'rxjs';
import type { HttpExchange } from '../../core/http/http-facade.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { matchesEtag } from '../engine/etag.js';
import type { CacheReporter } from './cache-reporter.js';
import { NotModifiedException } from './not-modified.exception.js';
import { markPrivate } from './response-capture.js';

/**
 * Answers a request from a stored entry (or a leader's fresh one): its stored headers,
 * its ETag and `Age`, `X-Cache-Status: HIT`, `private` for a per-user entry, and a 304
 * (thrown as {@link NotModifiedException}) when `If-None-Match` matches, else the stored
 * bytes. Counts the hit.
 *
 * @param now The current time in ms, for `Age`.
 */
export function serveHit(
  exchange: HttpExchange,
  entry: CachedResponse,
  perUser: boolean,
  reporter: CacheReporter,
  now = Date.now(),
): Observable<unknown> {
  reporter.hit();
  for (const [name, value] of Object.entries(entry.headers)) exchange.setHeader(name, value);
  exchange.setHeader('ETag', entry.etag);
  exchange.setHeader('Age', String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))));
  reporter.status(exchange, 'HIT');
  if (perUser) markPrivate(exchange);
  if (matchesEtag(exchange.header('if-none-match'), entry.etag)) throw new NotModifiedException();
  return of(exchange.textBody(entry.body));
}
