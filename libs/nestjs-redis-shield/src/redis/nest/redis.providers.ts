import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { RedisModuleOptions } from '../engine/redis.options.js';
import { DEFAULT_REDIS_CONNECTION } from './redis.constants.js';

/** Extras of `RedisModule.forRoot/forRootAsync` besides the connection options. */
export interface RedisModuleExtras {
  /** The connection's name, for `@InjectRedis(name)` and other modules' `connection` option. */
  name: string;
  /** Register the module globally. Default true. */
  isGlobal: boolean;
}

export const {
  ConfigurableModuleClass: RedisConfigurableModule,
  /** Injection token of the {@link RedisModuleOptions} given to `RedisModule.forRoot/forRootAsync`. */
  MODULE_OPTIONS_TOKEN: REDIS_MODULE_OPTIONS,
  OPTIONS_TYPE: REDIS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: REDIS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RedisModuleOptions>({ moduleName: 'Redis' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRedisOptions')
  .setExtras<RedisModuleExtras>({ name: DEFAULT_REDIS_CONNECTION, isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
