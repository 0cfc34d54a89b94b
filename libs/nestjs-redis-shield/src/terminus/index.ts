/**
 * nestjs-redis-shield/terminus: the `@nestjs/terminus` integration, a separate entry
 * point so applications without Terminus never load it.
 *
 * @example
 * import { RedisHealthIndicator } from 'nestjs-redis-shield/terminus';
 *
 * @module nestjs-redis-shield/terminus
 */
export {
  DEFAULT_HEALTH_PING_TIMEOUT_MS,
  type RedisHealthCheckOptions,
  type RedisHealthDegradedDetails,
  type RedisHealthDownDetails,
  RedisHealthIndicator,
  type RedisHealthResult,
  type RedisHealthUpDetails,
} from './redis.health-indicator.js';
