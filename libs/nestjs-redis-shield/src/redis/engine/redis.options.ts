import type { ConnectionOptions } from 'node:tls';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { type InstanceBusOptions, type ResolvedBusOptions, resolveBusOptions } from '../../bus/engine/bus.options.js';
import { shieldError } from '../../core/errors.js';
import { checkIntegerInRange, checkPositiveInteger } from '../../core/validators.js';
import { type CircuitBreakerOptions, DEFAULT_BREAKER_OPTIONS } from './circuit-breaker.js';
import { type Clock, redisClock } from '../../core/clock.js';

/** A host and port of a Sentinel or Cluster node. */
export interface RedisNodeAddress {
  /** Host name or IP address. */
  host: string;
  /** TCP port. */
  port: number;
}

/** The ioredis client types the library accepts. */
export type RedisClient = Redis | Cluster;

/**
 * Options of one Redis connection (`RedisModule.forRoot`). Topology: `url` alone
 * (standalone, `rediss://` for TLS), `sentinels` + `sentinelName` (credentials, TLS and
 * database still from `url`), `clusterNodes`, or an existing `client`.
 */
export interface RedisModuleOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://...` (TLS). Default `redis://localhost:6379`. */
  url?: string;
  /**
   * Sentinel nodes; requires `sentinelName`. The client asks them for the master on every
   * (re)connect, so it follows a failover by itself; a Sentinel that does not answer within
   * 1000 ms is skipped, and a `READONLY` reply (a master demoted under the client) makes it
   * reconnect and ask again. Sentinel credentials, if any: `redisOptions.sentinelPassword`.
   */
  sentinels?: RedisNodeAddress[];
  /** The Sentinel master name. */
  sentinelName?: string;
  /** Cluster seed nodes; the database must be 0. */
  clusterNodes?: RedisNodeAddress[];
  /**
   * Extra TLS options (CA, client certificate); TLS is on with `rediss://` or when this is
   * set, with certificate verification (`rejectUnauthorized` stays Node's default, true).
   * With `sentinels` it applies to the master and the Sentinels alike (override with
   * `redisOptions.sentinelTLS`). A private CA can also come from Node's `NODE_EXTRA_CA_CERTS`.
   */
  tls?: ConnectionOptions;
  /**
   * An existing ioredis client to use instead of creating one. It is not closed by the
   * library; give it `enableOfflineQueue: false` so a disconnected Redis fails fast.
   */
  client?: RedisClient;
  /** Namespace before every key the library writes; `{` and `}` are refused. Default empty. */
  keyPrefix?: string;
  /**
   * HMAC key for client and user ids in keys, indexes, streams and logs; the same on
   * every instance. Default: an insecure development value (a warning is logged).
   */
  hashSecret?: string;
  /**
   * The per-request Redis deadline, in ms of Redis time (from each command's write; the
   * app's own event-loop lag is not counted), shared by everything one request asks; a
   * request spends at most three times it waiting on Redis in all. Default 100.
   */
  commandTimeoutMs?: number;
  /** Circuit breaker tuning (ms). Default: open after 3 failures within 1000 ms, probe every 1000 ms. */
  breaker?: Partial<CircuitBreakerOptions>;
  /**
   * Where time comes from. Default: Redis `TIME` inside scripts. A `ManualClock` against
   * a real Redis must not jump further than eight of a tier's windows past a state that
   * has not expired in Redis yet (keys expire in real time): window algorithms store the
   * window number modulo a power of ten sized for real time.
   */
  clock?: Clock;
  /** Cap of the reconnect backoff, in ms (reconnects never stop). Default 2000. */
  maxReconnectDelayMs?: number;
  /** Extra ioredis options for created clients (offline queue and retries stay ours). */
  redisOptions?: RedisOptions;
  /**
   * The connection's instance bus: one pub/sub subscriber per instance through which
   * instances tell each other to drop local state. Default `{ enabled: true, staleAfterMs: 5000 }`.
   */
  bus?: InstanceBusOptions;
}

/** The development HMAC key used when `hashSecret` is not given. */
export const DEV_HASH_SECRET = 'nestjs-redis-shield-insecure-dev-secret';
/** The URL used when `RedisModuleOptions.url` is not given. */
export const DEFAULT_REDIS_URL = 'redis://localhost:6379';

/** {@link RedisModuleOptions} validated, with every default applied. */
export interface ResolvedRedisOptions {
  url: URL;
  sentinels?: RedisNodeAddress[];
  sentinelName?: string;
  clusterNodes?: RedisNodeAddress[];
  tls?: ConnectionOptions;
  client?: RedisClient;
  keyPrefix: string;
  hashSecret: string;
  usesDevSecret: boolean;
  commandTimeoutMs: number;
  breaker: CircuitBreakerOptions;
  clock: Clock;
  maxReconnectDelayMs: number;
  redisOptions: RedisOptions;
  bus: ResolvedBusOptions;
}

/** Validates options at start-up and throws at once with a message naming the option. */
export function resolveRedisOptions(options: RedisModuleOptions): ResolvedRedisOptions {
  const url = parseUrl(options.url ?? DEFAULT_REDIS_URL);
  if (options.client && (options.url || options.sentinels || options.clusterNodes)) {
    throw shieldError(
      'conflictingOptions',
      'client',
      options.url ? 'url' : options.sentinels ? 'sentinels' : 'clusterNodes',
    );
  }
  if (options.sentinels && options.clusterNodes) throw shieldError('conflictingOptions', 'sentinels', 'clusterNodes');
  if (options.sentinels && !options.sentinelName) {
    throw shieldError('invalidOption', 'sentinelName', options.sentinelName, 'the master name when sentinels are set');
  }
  for (const [option, nodes] of [
    ['sentinels', options.sentinels],
    ['clusterNodes', options.clusterNodes],
  ] as const) {
    if (nodes) checkNodeAddresses(option, nodes);
  }
  if (options.clusterNodes && database(url) !== 0) {
    throw shieldError('invalidOption', 'url', redact(url), 'database 0 with clusterNodes');
  }
  const commandTimeoutMs = checkPositiveInteger('commandTimeoutMs', options.commandTimeoutMs ?? 100);
  const breaker = { ...DEFAULT_BREAKER_OPTIONS, ...options.breaker };
  for (const [key, value] of Object.entries(breaker)) checkPositiveInteger(`breaker.${key}`, value);
  const maxReconnectDelayMs = checkPositiveInteger('maxReconnectDelayMs', options.maxReconnectDelayMs ?? 2000);
  return {
    url,
    sentinels: options.sentinels,
    sentinelName: options.sentinelName,
    clusterNodes: options.clusterNodes,
    tls: options.tls,
    client: options.client,
    // Validated by the KeyBuilder, the one place that knows key rules.
    keyPrefix: options.keyPrefix ?? '',
    hashSecret: options.hashSecret ?? DEV_HASH_SECRET,
    usesDevSecret: options.hashSecret === undefined || options.hashSecret === DEV_HASH_SECRET,
    commandTimeoutMs,
    breaker,
    clock: options.clock ?? redisClock,
    maxReconnectDelayMs,
    redisOptions: options.redisOptions ?? {},
    // The bus's subscriber reconnects with the connection's backoff cap.
    bus: resolveBusOptions(options.bus, maxReconnectDelayMs),
  };
}

/** The database index of a Redis URL (`/2` → 2, none → 0). */
export function database(url: URL): number {
  const path = url.pathname.replace(/^\//, '');
  return path === '' ? 0 : Number(path);
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw shieldError(
      'invalidOption',
      'url',
      raw.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1***@'),
      'a redis:// or rediss:// URL',
    );
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) {
    throw shieldError('invalidOption', 'url', redact(url), 'a redis:// or rediss:// URL');
  }
  if (!/^\/?\d*$/.test(url.pathname)) throw shieldError('invalidOption', 'url', redact(url), 'a database number');
  return url;
}

function redact(url: URL): string {
  const copy = new URL(url);
  if (copy.password) copy.password = '***';
  return copy.toString();
}

/** Throws naming the list, or its first bad entry, unless `nodes` is a non-empty list of `{ host, port }`. */
function checkNodeAddresses(option: string, nodes: readonly RedisNodeAddress[]): void {
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw shieldError(
      'invalidOption',
      option,
      Array.isArray(nodes) ? nodes.length : nodes,
      'a non-empty list of { host, port }',
    );
  }
  nodes.forEach((node, index) => {
    if (typeof node !== 'object' || node === null) {
      throw shieldError('invalidOption', `${option}[${index}]`, node, '{ host, port }');
    }
    if (typeof node.host !== 'string' || node.host === '') {
      throw shieldError('invalidOption', `${option}[${index}].host`, node.host, 'a non-empty host name or IP address');
    }
    checkIntegerInRange(`${option}[${index}].port`, node.port, 1, 65535);
  });
}
