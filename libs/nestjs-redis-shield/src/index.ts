/**
 * nestjs-redis-shield: Redis-backed distributed rate limiting and HTTP response
 * caching for NestJS. This file is the package's only public entry point.
 */
export { HASHED_ID_LENGTH, hashId } from './common/hmac-id.js';
export { ShieldCoreModule } from './events/shield-core.module.js';
export {
  type RedisConnectionState,
  type RedisStateEvent,
  type ShieldEventMap,
  ShieldEvents,
} from './events/shield-events.js';
export { type CircuitBreakerOptions, type CircuitState, DEFAULT_BREAKER_OPTIONS } from './redis/circuit-breaker.js';
export { appClock, type Clock, ManualClock, redisClock } from './redis/clock.js';
export { Deadline, requestDeadline } from './redis/deadline.js';
export { escapeGlob, KEY_AREAS, KeyBuilder, type KeyBuilderOptions } from './redis/key-builder.js';
export { RedisConnection, type RunOptions, type ScriptRunner } from './redis/redis.connection.js';
export {
  RedisCommandError,
  RedisJsonError,
  RedisUnavailableError,
  type RedisUnavailableReason,
} from './redis/redis.errors.js';
export { REDIS_MODULE_OPTIONS, type RedisModuleExtras } from './redis/redis.module-definition.js';
export { RedisModule } from './redis/redis.module.js';
export {
  DEFAULT_REDIS_URL,
  DEV_HASH_SECRET,
  type RedisClient,
  type RedisModuleOptions,
  type RedisNodeAddress,
} from './redis/redis.options.js';
export { RedisService, type RedisValue, type SetOptions } from './redis/redis.service.js';
export {
  DEFAULT_REDIS_CONNECTION,
  getRedisConnectionToken,
  getRedisServiceToken,
  InjectRedis,
  InjectRedisConnection,
} from './redis/redis.tokens.js';
