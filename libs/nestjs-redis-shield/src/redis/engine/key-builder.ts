import { shieldError, messages, withCode } from '../../core/errors.js';
import { hashId } from '../../core/hmac-id.js';
import { BoundedMemo } from '../../core/bounded-memo.js';

/** The areas of the keyspace the library writes, each under its own prefix. */
export const KEY_AREAS = {
  /** Rate-limit buckets of one client, and the violation stream. */
  rateLimit: 'rate_limit:',
  /** Stored HTTP responses, one key per entry digest. */
  cacheResponse: 'cache:response:',
  /** Leases of the response cache: one instance computes a missing or stale entry. */
  cacheLease: 'cache:lease:',
  /** Indexes (ZSETs) of cache entries by route, user, tag or concrete path. */
  cacheIndex: 'cache:index:',
  /** Response-cache bookkeeping: registries, invalidation generation, stats. */
  cacheMeta: 'cache:meta:',
  /** Values stored through `CacheService.set` and `wrap`. */
  cacheValue: 'cache:value:',
  /** The operator dashboard's counts and instance heartbeats (one hash). */
  dashboard: 'dashboard:',
} as const;

/** Options of a {@link KeyBuilder}. */
export interface KeyBuilderOptions {
  /** Namespace before every key; `{` and `}` are refused (they would break hash tags). */
  prefix: string;
  /** HMAC key for client and user ids; the same on every instance of a deployment. */
  hashSecret: string;
}

/**
 * The indexes of the response cache: entries of one route, user, tag or concrete path,
 * and of one route in one scope (`variant`: `<route id>\n<scope>`, for the variant cap).
 */
export type CacheIndexKind = 'route' | 'user' | 'tag' | 'path' | 'variant';

/**
 * The bookkeeping keys of the response cache: the route and path registries (hashes),
 * the invalidation generation (a counter) and the hit/miss counters (a hash).
 */
export type CacheMetaKey = 'routes' | 'paths' | 'gen' | 'stats';

/**
 * The instance bus's pub/sub channel after the prefix: a channel, not a key, so not a
 * {@link KEY_AREAS} area. The hash tag gives it one Cluster slot.
 */
const BUS_CHANNEL = 'bus:{instance}';
const GLOB_SPECIALS = /[*?[\]\\]/g;
/** How many id → HMAC results a key builder remembers (about 1 MB at most). */
const HASHED_IDS_KEPT = 10_000;
/** An entry digest: base64url only, so no path, query or user id can slip into a key. */
const CACHE_DIGEST = /^[A-Za-z0-9_-]{16,128}$/;
/** A client's HMAC as {@link KeyBuilder.hashId} makes it: 22 base64url characters. */
export const CLIENT_HASH = /^[A-Za-z0-9_-]{22}$/;

/**
 * The only place key strings are made. Every key is `prefix + area + ...`; every client
 * or user id inside a key is HMAC'd (see {@link hashId}), never raw. All rate-limit keys
 * of one client share the Cluster hash tag `{<hashed id>}`, so a multi-key script for
 * that client runs on one node.
 */
export class KeyBuilder {
  /** The namespace before every key (may be empty). */
  readonly prefix: string;
  /** Recent ids and their HMACs, at most {@link HASHED_IDS_KEPT}. */
  private readonly hashed: BoundedMemo;

  /** @throws Error when `prefix` contains `{` or `}`, or `hashSecret` is empty. */
  constructor(options: KeyBuilderOptions) {
    if (/[{}]/.test(options.prefix)) {
      throw shieldError('invalidOption', 'keyPrefix', options.prefix, 'no { or } (they break Cluster hash tags)');
    }
    if (options.hashSecret === '') throw shieldError('invalidOption', 'hashSecret', '', 'a non-empty secret');
    this.prefix = options.prefix;
    const secret = options.hashSecret;
    this.hashed = new BoundedMemo((id) => hashId(secret, id), HASHED_IDS_KEPT);
  }

  /** The HMAC of an id as it appears in keys, indexes, streams and logs (22 chars). */
  hashId(id: string): string {
    // The same clients come back request after request: an HMAC costs more than a lookup.
    return this.hashed.get(id);
  }

  /**
   * The hash tag of one client (e.g. `ip:203.0.113.7`, `user:42`): `{<hmac>}`.
   * Clients of different kinds never collide because the kind is hashed with the id.
   */
  clientTag(clientId: string): string {
    return `{${this.hashId(clientId)}}`;
  }

  /** A rate-limit key of one client; `parts` (policy names etc.) follow the tag. */
  rateLimit(clientId: string, ...parts: string[]): string {
    return [`${this.prefix}${KEY_AREAS.rateLimit}${this.clientTag(clientId)}`, ...parts].join(':');
  }

  /**
   * A rate-limit key of the client whose HMAC ({@link hashId}) is `hash`: what an admin
   * who only ever saw the HMAC (the violations list, the dashboard) resets by.
   *
   * @throws RangeError when `hash` is not 22 base64url characters.
   */
  rateLimitOfHash(hash: string, ...parts: string[]): string {
    if (!CLIENT_HASH.test(hash)) {
      throw withCode(
        new RangeError(
          messages.invalidArgument('a client HMAC', `${hash.length} characters`, '22 base64url characters'),
        ),
        'invalidArgument',
      );
    }
    return [`${this.prefix}${KEY_AREAS.rateLimit}{${hash}}`, ...parts].join(':');
  }

  /**
   * The capped stream of rate-limit violations: `rate_limit:violations`. One key, so any
   * script on it is Cluster-safe; ids inside it are HMACs.
   */
  violations(): string {
    return `${this.prefix}${KEY_AREAS.rateLimit}violations`;
  }

  /**
   * The key of one response-cache entry: `cache:response:{<digest>}`. The digest is the
   * hash tag, so entries spread over a Cluster and each shares its slot with its lease
   * ({@link cacheLease}), which one script reads with it. The digest is the interceptor's
   * opaque hash; anything but 16–128 base64url characters is refused, so no path or id
   * can end up in a key.
   */
  cacheEntry(digest: string): string {
    return `${this.prefix}${KEY_AREAS.cacheResponse}{${checkedDigest(digest)}}`;
  }

  /** The lease on one entry's computation: `cache:lease:{<digest>}`, in the entry's slot. */
  cacheLease(digest: string): string {
    return `${this.prefix}${KEY_AREAS.cacheLease}{${checkedDigest(digest)}}`;
  }

  /**
   * The HMAC (22 chars) that names a route id, user id, tag or concrete path in cache
   * index keys and registry fields: `hashId('<kind>:<value>')`, so a user's hash is the
   * same as in rate-limit keys (`user:<id>`) and kinds never collide.
   */
  cacheHash(kind: CacheIndexKind, value: string): string {
    return this.hashId(`${kind}:${value}`);
  }

  /** The index (a ZSET of entry digests) of one route id, user id, tag or concrete path. */
  cacheIndex(kind: CacheIndexKind, value: string): string {
    return `${this.prefix}${KEY_AREAS.cacheIndex}${kind}:${this.cacheHash(kind, value)}`;
  }

  /** A programmatic cache value (`CacheService.set/wrap`): the caller's key, HMAC'd. */
  cacheValue(key: string): string {
    return `${this.prefix}${KEY_AREAS.cacheValue}${this.hashId(`value:${key}`)}`;
  }

  /** A bookkeeping key of the response cache: `cache:meta:<name>`. */
  cacheMeta(name: CacheMetaKey): string {
    return `${this.prefix}${KEY_AREAS.cacheMeta}${name}`;
  }

  /**
   * The instance bus's pub/sub channel: `bus:{instance}`. Its hash tag gives it one Cluster
   * slot, so it works as a shard channel (`SSUBSCRIBE` / `SPUBLISH` reach one node).
   */
  busChannel(): string {
    return `${this.prefix}${BUS_CHANNEL}`;
  }

  /**
   * The operator dashboard's hash: decision and cache counts of every instance, and each
   * instance's last heartbeat. One key, so one slot on a Cluster.
   */
  dashboard(): string {
    return `${this.prefix}${KEY_AREAS.dashboard}counts`;
  }

  /** A key of the user-facing `RedisService`: the namespace prefix, then the caller's key. */
  data(key: string): string {
    return `${this.prefix}${key}`;
  }

  /** Strips the namespace prefix from a key read back from Redis (e.g. from SCAN). */
  stripPrefix(key: string): string {
    return key.startsWith(this.prefix) ? key.slice(this.prefix.length) : key;
  }

  /**
   * A SCAN `MATCH` pattern for keys under the namespace: the prefix is escaped so glob
   * characters in it match literally; `pattern` is a glob the caller wrote.
   */
  scanPattern(pattern = '*'): string {
    return `${escapeGlob(this.prefix)}${pattern}`;
  }
}

/** Escapes Redis glob characters (`* ? [ ] \`) so the text matches literally. */
export function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIALS, (char) => `\\${char}`);
}

/** `digest` if it is 16–128 base64url characters; throws otherwise. */
function checkedDigest(digest: string): string {
  if (!CACHE_DIGEST.test(digest)) {
    throw withCode(
      new RangeError(
        messages.invalidArgument('a cache digest', `${digest.length} characters`, '16-128 base64url characters'),
      ),
      'invalidArgument',
    );
  }
  return digest;
}
