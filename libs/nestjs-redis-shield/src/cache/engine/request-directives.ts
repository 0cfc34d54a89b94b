import type { HttpExchange } from '../../core/http/http-facade.js';
import type { HonorRequestCacheControl } from './cache.options.js';

/** What a request lets the cache do. */
export interface Directives {
  /** Answer from a stored entry. */
  read: boolean;
  /** Store the fresh response. */
  write: boolean;
}

/**
 * Request `Cache-Control`: `no-cache` skips the lookup and stores the fresh response;
 * `no-store` neither reads nor writes. With `per-user`, directives apply to per-user
 * entries; on shared entries `no-cache` is ignored and `no-store` only prevents storing,
 * so no client can make a shared route rerun its handler at will.
 */
export function requestDirectives(
  exchange: Pick<HttpExchange, 'header'>,
  perUser: boolean,
  mode: HonorRequestCacheControl,
): Directives {
  if (mode === 'never') return { read: true, write: true };
  const header = (exchange.header('cache-control') ?? '').toLowerCase();
  const noStore = /\bno-store\b/.test(header);
  const noCache = /\bno-cache\b/.test(header) || (exchange.header('pragma') ?? '').toLowerCase() === 'no-cache';
  if (mode === 'always' || perUser) return { read: !noCache && !noStore, write: !noStore };
  return { read: true, write: !noStore };
}

/**
 * The path and query string of a request target as sent: no `URL` parse per request in
 * origin form.
 */
export function splitUrl(target: string): { path: string; query: string } {
  if (!target.startsWith('/')) {
    // Absolute form (`GET http://host/path`): the path index must hold the path alone.
    const url = new URL(target, 'http://cache.invalid');
    return { path: url.pathname, query: url.search.slice(1) };
  }
  const mark = target.indexOf('?');
  const end = target.indexOf('#');
  const stop = end === -1 ? target.length : end;
  if (mark === -1 || mark > stop) return { path: target.slice(0, stop), query: '' };
  return { path: target.slice(0, mark), query: target.slice(mark + 1, stop) };
}
