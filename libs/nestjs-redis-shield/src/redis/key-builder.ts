import { messages } from '../errors/messages.js';
import { hashId } from '../common/hmac-id.js';

/** The areas of the keyspace the library writes, each under its own prefix. */
export const KEY_AREAS = {
  rateLimit: 'rate_limit:',
  cacheResponse: 'cache:response:',
  cacheIndex: 'cache:index:',
  cacheMeta: 'cache:meta:',
} as const;

/** Options of a {@link KeyBuilder}. */
export interface KeyBuilderOptions {
  /** Namespace before every key; `{` and `}` are refused (they would break hash tags). */
  prefix: string;
  /** HMAC key for client and user ids; the same on every instance of a deployment. */
  hashSecret: string;
}

const GLOB_SPECIALS = /[*?[\]\\]/g;

/**
 * The only place key strings are made. Every key is `prefix + area + ...`; every client
 * or user id inside a key is HMAC'd (see {@link hashId}), never raw. All rate-limit keys
 * of one client share the Cluster hash tag `{<hashed id>}`, so a multi-key script for
 * that client runs on one node.
 */
export class KeyBuilder {
  readonly prefix: string;
  private readonly hashSecret: string;

  constructor(options: KeyBuilderOptions) {
    if (/[{}]/.test(options.prefix)) {
      throw new Error(messages.invalidOption('keyPrefix', options.prefix, 'no { or } (they break Cluster hash tags)'));
    }
    if (options.hashSecret === '') throw new Error(messages.invalidOption('hashSecret', '', 'a non-empty secret'));
    this.prefix = options.prefix;
    this.hashSecret = options.hashSecret;
  }

  /** The HMAC of an id as it appears in keys, indexes, streams and logs (22 chars). */
  hashId(id: string): string {
    return hashId(this.hashSecret, id);
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
