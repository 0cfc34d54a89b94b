import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { database, type RedisClient, type ResolvedRedisOptions } from '../engine/redis.options.js';

/**
 * How long a Sentinel may take to name the master, in ms. Without a bound, one stalled
 * Sentinel (its host paused, its process stopped: TCP still accepts) hangs the master
 * lookup for good, and the client never follows a failover.
 */
export const SENTINEL_COMMAND_TIMEOUT_MS = 1000;

/**
 * Sentinel mode: a `READONLY` reply means the node this client talks to was demoted
 * without closing its connections, so reconnect, which asks the Sentinels for the master
 * again (redis.io "Sentinel clients" guidelines). `1`: the failed command is rejected,
 * never resent (a resent `consume` would count twice).
 */
export function reconnectOnReadOnly(error: Error): 1 | false {
  return /^READONLY\b/.test(error.message) ? 1 : false;
}

/**
 * Creates the ioredis client of one connection. Request-path safety lives here: no
 * offline queue (a disconnected Redis fails at once instead of queueing), no replay of
 * in-flight commands after a reconnect (a replayed `consume` would count twice), and
 * reconnects that never stop, with backoff capped at `maxReconnectDelayMs`.
 */
export function createRedisClient(options: ResolvedRedisOptions, name: string): RedisClient {
  const { url } = options;
  const backoff = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 16), options.maxReconnectDelayMs);
  const tls = url.protocol === 'rediss:' || options.tls ? { ...options.tls } : undefined;
  const common: RedisOptions = {
    connectionName: `nestjs-redis-shield:${name}`,
    connectTimeout: 2000,
    // ioredis arms this (ref'd) timer even for a socket that already failed, which keeps
    // a closed app's process alive for its whole length.
    disconnectTimeout: 200,
    ...options.redisOptions,
    username: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    tls,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
  };

  if (options.clusterNodes) {
    return new Cluster(options.clusterNodes, {
      redisOptions: common,
      enableOfflineQueue: false,
      scaleReads: 'master',
      clusterRetryStrategy: backoff,
    });
  }
  if (options.sentinels) {
    return new Redis({
      // TLS from the URL (or `tls`) covers the master and the Sentinels alike; ioredis
      // would otherwise reach the master in plain text. `redisOptions` may override these.
      enableTLSForSentinelMode: tls !== undefined,
      sentinelTLS: tls,
      sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
      reconnectOnError: reconnectOnReadOnly,
      ...common,
      sentinels: options.sentinels,
      name: options.sentinelName,
      db: database(url),
      retryStrategy: backoff,
      sentinelRetryStrategy: backoff,
    });
  }
  return new Redis({
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    db: database(url),
    retryStrategy: backoff,
  });
}
