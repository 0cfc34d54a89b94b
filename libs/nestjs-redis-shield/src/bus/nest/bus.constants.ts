import { DEFAULT_REDIS_CONNECTION } from '../../redis/nest/redis.constants.js';

/**
 * @internal The injection token of a connection's `InstanceBus`. A module that keeps local
 * state about data on connection `name` injects the bus of that same connection: the
 * instances sharing that Redis are exactly the ones whose state must agree.
 */
export function getInstanceBusToken(name: string = DEFAULT_REDIS_CONNECTION): string {
  return `nestjs-redis-shield:bus:${name}`;
}
