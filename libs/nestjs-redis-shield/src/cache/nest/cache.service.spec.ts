import { ModulesContainer, Reflector } from '@nestjs/core';
import { shieldErrorCode } from '../../core/errors.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { resolveCacheOptions } from '../engine/cache.options.js';
import type { ResponseCacheStore } from '../store/response-cache.store.js';
import type { CacheStatsCounter } from './cache-stats.counter.js';
import { CacheService } from './cache.service.js';

/** A service over a connection that records its Redis calls instead of making them. */
function setup() {
  const calls: string[] = [];
  const connection = {
    keys: { cacheValue: (key: string) => `value:${key}` },
    run: (command: (client: unknown) => Promise<unknown>) =>
      command({ set: (key: string) => calls.push(`SET ${key}`) }),
  };
  const service = new CacheService(
    {} as ResponseCacheStore,
    {} as CacheStatsCounter,
    connection as unknown as RedisConnection,
    resolveCacheOptions({}),
    new ModulesContainer(),
    new Reflector(),
  );
  return { service, calls };
}

describe('CacheService.set', () => {
  it('stores a JSON value for ttlSeconds', async () => {
    const { service, calls } = setup();
    await service.set('k', { a: 1 }, { ttlSeconds: 1 });
    expect(calls).toEqual(['SET value:k']);
  });

  it.each([0, -1, Number.NaN])('refuses ttlSeconds %p with a RangeError (SHIELD_E009), before Redis', async (ttl) => {
    const { service, calls } = setup();
    const error: unknown = await service.set('k', 1, { ttlSeconds: ttl }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(`ttlSeconds must be positive, got ${ttl}`);
    expect(shieldErrorCode(error)).toBe('SHIELD_E009');
    expect(calls).toEqual([]);
  });

  it('refuses a value without JSON form with a TypeError (SHIELD_E022), before Redis', async () => {
    const { service, calls } = setup();
    const error: unknown = await service.set('fn', () => 1, { ttlSeconds: 1 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe("cache value for 'fn' has no JSON form");
    expect(shieldErrorCode(error)).toBe('SHIELD_E022');
    expect(calls).toEqual([]);
  });
});
