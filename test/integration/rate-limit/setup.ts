import type { INestApplication } from '@nestjs/common';
import {
  type Clock,
  type PolicyDefinition,
  RateLimitModule,
  type RateLimitModuleOptions,
  RateLimitService,
  RateLimitStore,
  type RedisConnection,
  type RedisModuleOptions,
} from 'nestjs-redis-shield';
import { startRedisApp } from '../support/redis-app.js';

/** A Nest app with a Redis connection and the rate-limit module, as a user would wire it. */
export interface LimiterApp {
  app: INestApplication;
  service: RateLimitService;
  store: RateLimitStore;
  connection: RedisConnection;
  close(): Promise<void>;
}

/** Boots a limiter on `redis` (connection options) with the given policies and clock. */
export async function startLimiter(
  redis: RedisModuleOptions,
  options: {
    policies?: Record<string, PolicyDefinition>;
    clock?: Clock;
    defaultTiers?: PolicyDefinition['tiers'];
    /** Any other module option (`failMode`, `localBlockCache`, ...). */
    limits?: RateLimitModuleOptions;
  } = {},
): Promise<LimiterApp> {
  const { app, connection } = await startRedisApp(
    { hashSecret: 'rate-limit-tests', commandTimeoutMs: 2000, ...redis, clock: options.clock },
    [RateLimitModule.forRoot({ ...options.limits, policies: options.policies, defaultTiers: options.defaultTiers })],
  );
  return {
    app,
    service: app.get(RateLimitService),
    store: app.get<RateLimitStore>(RateLimitStore),
    connection,
    close: () => app.close(),
  };
}
