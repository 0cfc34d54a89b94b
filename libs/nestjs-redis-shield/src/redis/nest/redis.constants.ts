import { Inject } from '@nestjs/common';

/** The name of the connection used when none is given. */
export const DEFAULT_REDIS_CONNECTION = 'default';

/** The injection token of a connection's `RedisConnection`. */
export function getRedisConnectionToken(name: string = DEFAULT_REDIS_CONNECTION): string {
  return `nestjs-redis-shield:connection:${name}`;
}

/** The injection token of a connection's `RedisService`. */
export function getRedisServiceToken(name: string = DEFAULT_REDIS_CONNECTION): string {
  return `nestjs-redis-shield:service:${name}`;
}

/**
 * Injects the `RedisService` of a named connection (the default one without a name).
 *
 * @example
 * constructor(@InjectRedis('cache') private readonly cacheRedis: RedisService) {}
 */
export const InjectRedis = (name?: string): ParameterDecorator & PropertyDecorator =>
  Inject(getRedisServiceToken(name));

/** Injects the `RedisConnection` (client, breaker state, key builder) of a named connection. */
export const InjectRedisConnection = (name?: string): ParameterDecorator & PropertyDecorator =>
  Inject(getRedisConnectionToken(name));
