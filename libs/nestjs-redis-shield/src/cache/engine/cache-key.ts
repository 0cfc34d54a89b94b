import { createHash } from 'node:crypto';
import { BoundedMemo } from '../../core/bounded-memo.js';
import type { RouteParams } from './canonical-path.js';

/** Everything that makes two requests share a cached response. */
export interface CacheKeyParts {
  /** `CACHE_KEY_VERSION`: bump on deploy to drop old shapes. */
  keyVersion: string;
  /** The handler, e.g. `ModelsController.one`. */
  handlerId: string;
  /** The API version when Nest versioning is on. */
  apiVersion?: string;
  /** `GET` (HEAD is answered from the GET entry). */
  method: string;
  /**
   * The host name the adapter reports, lower-case, without the port (the instances of one
   * deployment may listen on different ports; a name selects content, a port does not);
   * undefined when the module keys without it (`keyByHost: false`, on a route that does
   * not route by host).
   */
  host?: string;
  /** `http` or `https` as the adapter reports it (it trusts a proxy's `X-Forwarded-Proto` only when told to). */
  scheme?: string;
  /** The request path without the query string (canonical); keys the entry when `template` is unknown. */
  path: string;
  /**
   * The matched route template. With it, the entry is keyed by the template and the
   * route `params` (exactly the handler's inputs) instead of `path`, so spellings the
   * router treats as one (case, trailing slash, percent-encoding) share one entry.
   */
  template?: string;
  /** The route parameters as the adapter decoded them; used with `template`. */
  params?: RouteParams;
  /** The raw query string, without `?` (canonicalised here). */
  query: string;
  /** `shared`, or the HMAC'd user scope (`user:<hmac>`); never a raw user id. */
  scope: string;
  /** Values of the request headers the route declares in `vary`, by lower-case name. */
  vary: Readonly<Record<string, string | undefined>>;
}

/**
 * The query string in canonical form: parameters sorted by name (a stable sort, so
 * repeated keys keep their order: `?lang=fr&lang=en` is not `?lang=en&lang=fr`, as an
 * application reading "the first" or "the list" sees) and re-encoded, so `?a=1&b=2` and
 * `?b=2&a=1` share an entry.
 */
export function canonicalQuery(query: string): string {
  if (query === '') return '';
  const params = [...new URLSearchParams(query)];
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new URLSearchParams(params).toString();
}

/** Recent key materials and their digests: hot entries are asked for again and again. */
const digests = new BoundedMemo((material) => createHash('sha256').update(material).digest('base64url'), 10_000);

/**
 * The entry digest: SHA-256 (base64url, 43 chars) over the JSON of every part, so no
 * two different requests can collide by concatenation and the key reveals no path or
 * user id.
 */
export function cacheDigest(parts: CacheKeyParts): string {
  const vary = Object.keys(parts.vary)
    .sort()
    .map((name) => [name, parts.vary[name] ?? null]);
  const material = JSON.stringify([
    parts.keyVersion,
    parts.handlerId,
    parts.apiVersion ?? null,
    parts.method,
    parts.host ?? null,
    parts.scheme ?? null,
    parts.template === undefined
      ? ['path', parts.path]
      : [
          'route',
          parts.template,
          Object.keys(parts.params ?? {})
            .sort()
            .map((name) => [name, parts.params![name] ?? null]),
        ],
    canonicalQuery(parts.query),
    parts.scope,
    vary,
  ]);
  return digests.get(material);
}
