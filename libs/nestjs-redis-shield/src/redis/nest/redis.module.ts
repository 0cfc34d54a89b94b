import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { InstanceBus } from '../../bus/store/instance-bus.js';
import { getInstanceBusToken } from '../../bus/nest/bus.constants.js';
import { ShieldCoreModule } from '../../core/shield-core.module.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { ShieldStatus } from '../../core/events/shield-status.js';
import { RedisConnection } from '../store/redis.connection.js';
import {
  REDIS_ASYNC_OPTIONS_TYPE,
  REDIS_MODULE_OPTIONS,
  REDIS_OPTIONS_TYPE,
  RedisConfigurableModule,
} from './redis.providers.js';
import { type RedisModuleOptions, type ResolvedRedisOptions, resolveRedisOptions } from '../engine/redis.options.js';
import { RedisService } from '../store/redis.service.js';
import { DEFAULT_REDIS_CONNECTION, getRedisConnectionToken, getRedisServiceToken } from './redis.constants.js';

/**
 * Redis connections for the library and the application. Each `forRoot` /
 * `forRootAsync` call makes one named connection (default name `default`); it is
 * global unless `isGlobal: false`, and closed on application shutdown (unless the
 * client was passed in).
 *
 * @example
 * RedisModule.forRootAsync({
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ url: config.get('REDIS_URL'), hashSecret: config.get('IP_HASH_SECRET') }),
 * })
 */
@Module({})
export class RedisModule extends RedisConfigurableModule {
  /** Creates one connection from {@link RedisModuleOptions} plus the extras `name` and `isGlobal`. */
  static override forRoot(options: typeof REDIS_OPTIONS_TYPE): DynamicModule {
    return withConnection(super.forRoot(options), options.name);
  }

  /**
   * Creates one connection from options resolved by `useFactory`, `useClass` or
   * `useExisting`; `name` and `isGlobal` are given beside them.
   */
  static override forRootAsync(options: typeof REDIS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withConnection(super.forRootAsync(options), options.name);
  }
}

/** The options of this module's connection, validated once; private to each `forRoot` module. */
const RESOLVED_OPTIONS = Symbol('nestjs-redis-shield:resolved-redis-options');

/** Adds the named connection, service and instance-bus providers to a module built by the builder. */
function withConnection(module: DynamicModule, name = DEFAULT_REDIS_CONNECTION): DynamicModule {
  const connectionToken = getRedisConnectionToken(name);
  const serviceToken = getRedisServiceToken(name);
  const busToken = getInstanceBusToken(name);
  const providers: Provider[] = [
    {
      provide: RESOLVED_OPTIONS,
      useFactory: (options: RedisModuleOptions) => resolveRedisOptions(options),
      inject: [REDIS_MODULE_OPTIONS],
    },
    {
      provide: connectionToken,
      useFactory: (options: ResolvedRedisOptions, events: ShieldEvents, status: ShieldStatus) =>
        new RedisConnection(name, options, events, status),
      inject: [RESOLVED_OPTIONS, ShieldEvents, ShieldStatus],
    },
    {
      provide: serviceToken,
      useFactory: (connection: RedisConnection) => new RedisService(connection),
      inject: [connectionToken],
    },
    {
      // One bus per connection, riding on it: its subscriber starts with the first handler.
      provide: busToken,
      useFactory: (options: ResolvedRedisOptions, connection: RedisConnection, events: ShieldEvents) =>
        new InstanceBus(connection, options.bus, events),
      inject: [RESOLVED_OPTIONS, connectionToken, ShieldEvents],
    },
  ];
  const exported: (string | typeof RedisService | typeof RedisConnection | typeof InstanceBus)[] = [
    connectionToken,
    serviceToken,
    busToken,
  ];
  if (name === DEFAULT_REDIS_CONNECTION) {
    // The default connection is also injectable by type.
    providers.push(
      { provide: RedisConnection, useExisting: connectionToken },
      { provide: RedisService, useExisting: serviceToken },
      { provide: InstanceBus, useExisting: busToken },
    );
    exported.push(RedisConnection, RedisService, InstanceBus);
  }
  return {
    ...module,
    imports: [...(module.imports ?? []), ShieldCoreModule],
    providers: [...(module.providers ?? []), ...providers],
    exports: [...(module.exports ?? []), ...exported],
  };
}
