import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { RedisConnection } from '../redis/redis.connection.js';
import { DEFAULT_REDIS_CONNECTION, getRedisConnectionToken } from '../redis/redis.tokens.js';
import type { RateLimitModuleOptions } from './rate-limit.options.js';
import { RateLimitStore } from './store.interface.js';
import { RedisRateLimitStore } from './stores/redis.store.js';

/** Options of `RateLimitModule.forRoot/forRootAsync` fixed when the module is declared. */
export interface RateLimitModuleExtras {
  /** Register globally. Default true. */
  isGlobal: boolean;
  /**
   * The Redis connection for counters (`RedisModule.forRoot({ name })`). Default
   * `default`. Static (not from the async factory) because it selects a provider.
   */
  connection: string;
}

export const {
  ConfigurableModuleClass: RateLimitConfigurableModule,
  MODULE_OPTIONS_TOKEN: RATE_LIMIT_MODULE_OPTIONS,
  OPTIONS_TYPE: RATE_LIMIT_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RATE_LIMIT_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RateLimitModuleOptions>({ moduleName: 'RateLimit' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRateLimitOptions')
  .setExtras<RateLimitModuleExtras>({ isGlobal: true, connection: DEFAULT_REDIS_CONNECTION }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    providers: [
      ...(definition.providers ?? []),
      {
        provide: RateLimitStore,
        useFactory: (connection: RedisConnection) => new RedisRateLimitStore(connection),
        inject: [getRedisConnectionToken(extras.connection)],
      },
    ],
  }))
  .build();
