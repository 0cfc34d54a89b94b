import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { ShieldStatus } from '../../core/events/shield-status.js';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import { getInstanceBusToken } from '../../bus/nest/bus.constants.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { DEFAULT_REDIS_CONNECTION, getRedisConnectionToken } from '../../redis/nest/redis.constants.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { type RateLimitModuleOptions, resolveViolationOptions } from '../engine/rate-limit.options.js';
import { BlockCache } from '../engine/block-cache.js';
import { RateLimiter } from '../engine/rate-limiter.js';
import { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit.constants.js';
import { RateLimitStore } from '../store/store.interface.js';
import { MemoryRateLimitStore } from '../store/memory.store.js';
import { RedisRateLimitStore } from '../store/redis.store.js';
import { ViolationRecorder } from '../store/violation-recorder.js';
import { ViolationStream } from '../store/violation-stream.js';

/** Options of `RateLimitModule.forRoot/forRootAsync` fixed when the module is declared. */
export interface RateLimitModuleExtras {
  /** Register globally. Default true. */
  isGlobal: boolean;
  /**
   * The Redis connection for counters (`RedisModule.forRoot({ name })`). Default
   * `default`. Static (not from the async factory) because it selects a provider.
   */
  connection: string;
  /**
   * Register `RateLimitGuard` as a global guard. Default true; with `false`, apply it
   * yourself with `@UseGuards(RateLimitGuard)`.
   */
  guard: boolean;
}

export const {
  ConfigurableModuleClass: RateLimitConfigurableModule,
  OPTIONS_TYPE: RATE_LIMIT_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RATE_LIMIT_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RateLimitModuleOptions>({
  moduleName: 'RateLimit',
  optionsInjectionToken: RATE_LIMIT_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRateLimitOptions')
  .setExtras<RateLimitModuleExtras>(
    { isGlobal: true, connection: DEFAULT_REDIS_CONNECTION, guard: true },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
      providers: [
        ...(definition.providers ?? []),
        ...storeProviders(extras.connection),
        ...guardProviders(extras.guard),
      ],
    }),
  )
  .build();

/** The Redis store and the limiter (Redis first, the in-memory fallback when it fails). */
function storeProviders(connectionName: string): Provider[] {
  const connectionToken = getRedisConnectionToken(connectionName);
  return [
    {
      provide: RateLimitStore,
      useFactory: (connection: RedisConnection) => new RedisRateLimitStore(connection),
      inject: [connectionToken],
    },
    {
      provide: RateLimiter,
      useFactory: (
        options: RateLimitModuleOptions,
        store: RateLimitStore,
        connection: RedisConnection,
        status: ShieldStatus,
        bus: InstanceBus,
      ) =>
        new RateLimiter(
          new MemoryRateLimitStore({ clock: connection.clock, maxClients: options.fallbackMaxClients }),
          options.failMode ?? 'open',
          { store, connection },
          options.localBlockCache === false
            ? undefined
            : new BlockCache(options.localBlockCache?.maxEntries, Date.now, bus),
          bus,
        ).register(status),
      inject: [
        RATE_LIMIT_MODULE_OPTIONS,
        RateLimitStore,
        connectionToken,
        ShieldStatus,
        getInstanceBusToken(connectionName),
      ],
    },
    {
      provide: ViolationStream,
      useFactory: (options: RateLimitModuleOptions, connection: RedisConnection) =>
        new ViolationStream(connection, resolveViolationOptions(options.violations).maxLength),
      inject: [RATE_LIMIT_MODULE_OPTIONS, connectionToken],
    },
    {
      provide: ViolationRecorder,
      useFactory: (
        options: RateLimitModuleOptions,
        connection: RedisConnection,
        events: ShieldEvents,
        stream: ViolationStream,
      ) => {
        const recorder = new ViolationRecorder(
          resolveViolationOptions(options.violations),
          connection.keys,
          events,
          stream,
        );
        // Violations of requests still in flight at shutdown are written before the connection closes.
        connection.beforeClose(() => recorder.close());
        return recorder;
      },
      inject: [RATE_LIMIT_MODULE_OPTIONS, connectionToken, ShieldEvents, ViolationStream],
    },
  ];
}

function guardProviders(global: boolean): Provider[] {
  return global ? [RateLimitGuard, { provide: APP_GUARD, useExisting: RateLimitGuard }] : [RateLimitGuard];
}
