import type { Redis, RedisOptions } from 'ioredis';
import { createRedisClient, reconnectOnReadOnly, SENTINEL_COMMAND_TIMEOUT_MS } from './redis-client.factory.js';
import { type RedisModuleOptions, resolveRedisOptions } from '../engine/redis.options.js';

const SENTINELS = [{ host: '127.0.0.1', port: 26380 }];

/** The options ioredis was given (lazyConnect: nothing is dialled). */
function optionsOf(options: RedisModuleOptions): RedisOptions & Record<string, unknown> {
  const client = createRedisClient(
    resolveRedisOptions({ ...options, redisOptions: { lazyConnect: true, ...options.redisOptions } }),
    'test',
  ) as Redis;
  client.disconnect();
  return client.options as RedisOptions & Record<string, unknown>;
}

describe('createRedisClient', () => {
  it('keeps the request-path safety of every client: no offline queue, no retries, capped backoff', () => {
    for (const options of [{ url: 'redis://127.0.0.1:7000' }, { sentinels: SENTINELS, sentinelName: 'm' }]) {
      const resolved = optionsOf({ ...options, maxReconnectDelayMs: 1500 });
      expect(resolved).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResubscribe: false });
      expect(resolved.retryStrategy!(1)).toBe(100);
      expect(resolved.retryStrategy!(50)).toBe(1500);
    }
  });

  describe('Sentinel mode', () => {
    it('bounds each question to a Sentinel and reconnects (re-resolving the master) on READONLY', () => {
      const resolved = optionsOf({ sentinels: SENTINELS, sentinelName: 'm' });
      expect(resolved).toMatchObject({
        sentinels: SENTINELS,
        name: 'm',
        sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
        enableTLSForSentinelMode: false,
        reconnectOnError: reconnectOnReadOnly,
      });
      expect(resolved.sentinelTLS).toBeUndefined();
      expect(resolved.tls).toBeUndefined();
      expect(resolved.sentinelRetryStrategy!(50)).toBe(2000);
    });

    it('uses TLS for the master and the Sentinels with rediss:// (ioredis alone would not for the master)', () => {
      const resolved = optionsOf({
        url: 'rediss://:secret@ignored:1/2',
        tls: { ca: 'PEM' },
        sentinels: SENTINELS,
        sentinelName: 'm',
      });
      expect(resolved).toMatchObject({
        enableTLSForSentinelMode: true,
        tls: { ca: 'PEM' },
        sentinelTLS: { ca: 'PEM' },
        password: 'secret',
        db: 2,
      });
    });

    it('lets redisOptions override the Sentinel defaults, never the request-path safety', () => {
      const reconnectOnError = () => false as const;
      const resolved = optionsOf({
        url: 'rediss://ignored:1',
        sentinels: SENTINELS,
        sentinelName: 'm',
        redisOptions: {
          sentinelTLS: undefined,
          sentinelCommandTimeout: 250,
          reconnectOnError,
          enableOfflineQueue: true,
          maxRetriesPerRequest: 3,
        },
      });
      expect(resolved).toMatchObject({ sentinelCommandTimeout: 250, reconnectOnError, enableTLSForSentinelMode: true });
      expect(resolved.sentinelTLS).toBeUndefined();
      expect(resolved).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    });
  });

  it('standalone clients do not reconnect on errors (nothing to re-resolve)', () => {
    expect(optionsOf({ url: 'redis://127.0.0.1:7000' }).reconnectOnError).toBeFalsy();
    expect(optionsOf({ url: 'rediss://127.0.0.1:7000', tls: { ca: 'PEM' } }).tls).toEqual({ ca: 'PEM' });
  });
});

describe('reconnectOnReadOnly', () => {
  it('reconnects (1: the command is rejected, never resent) on READONLY only', () => {
    expect(reconnectOnReadOnly(new Error("READONLY You can't write against a read only replica."))).toBe(1);
    expect(
      reconnectOnReadOnly(
        new Error("READONLY You can't write against a read only replica. script: abc, on @user_script:1."),
      ),
    ).toBe(1);
    expect(reconnectOnReadOnly(new Error('ERR value mentions READONLY'))).toBe(false);
    expect(reconnectOnReadOnly(new Error('LOADING Redis is loading the dataset in memory'))).toBe(false);
  });
});
