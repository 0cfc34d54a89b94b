import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { CacheFastPath } from './cache-fast-path.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { DEFAULT_REDIS_CONNECTION, getRedisConnectionToken } from '../../redis/nest/redis.constants.js';
import { CacheInterceptor } from './cache.interceptor.js';
import type { ResolvedCacheOptions, ResponseCacheModuleOptions } from '../engine/cache.options.js';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import { getInstanceBusToken } from '../../bus/nest/bus.constants.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { CacheL1 } from './cache-l1.js';
import { CacheLeases } from './cache-leases.js';
import { CACHE_BUS, CACHE_CONNECTION, CACHE_MODULE_OPTIONS, CACHE_OPTIONS } from './cache.constants.js';
import { ResponseCacheStore } from '../store/response-cache.store.js';

/** Options of `ResponseCacheModule.forRoot/forRootAsync` fixed when the module is declared. */
export interface ResponseCacheModuleExtras {
  /** Register globally. Default true. */
  isGlobal: boolean;
  /** The Redis connection for entries (`RedisModule.forRoot({ name })`). Default `default`. */
  connection: string;
  /** Register `CacheInterceptor` globally. Default true; with `false` apply it with `@UseInterceptors`. */
  interceptor: boolean;
}

export const {
  ConfigurableModuleClass: ResponseCacheConfigurableModule,
  OPTIONS_TYPE: RESPONSE_CACHE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RESPONSE_CACHE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ResponseCacheModuleOptions>({
  moduleName: 'ResponseCache',
  optionsInjectionToken: CACHE_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createResponseCacheOptions')
  .setExtras<ResponseCacheModuleExtras>(
    { isGlobal: true, connection: DEFAULT_REDIS_CONNECTION, interceptor: true },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
      providers: [...(definition.providers ?? []), ...cacheProviders(extras)],
    }),
  )
  .build();

function cacheProviders(extras: ResponseCacheModuleExtras): Provider[] {
  const providers: Provider[] = [
    {
      // The L1 hears invalidations on the bus of the connection that holds the entries.
      provide: CacheL1,
      useFactory: (options: ResolvedCacheOptions, bus?: InstanceBus) => new CacheL1(options, bus),
      inject: [CACHE_OPTIONS, { token: getInstanceBusToken(extras.connection), optional: true }],
    },
    {
      provide: ResponseCacheStore,
      useFactory: (connection: RedisConnection, l1: CacheL1) =>
        new ResponseCacheStore(connection, (what) => l1.invalidated(what)),
      inject: [getRedisConnectionToken(extras.connection), CacheL1],
    },
    {
      // Concurrent misses of one entry on every instance agree on one leader (a lease in
      // Redis) and hear of its entry on the same bus as the L1.
      provide: CacheLeases,
      useFactory: (
        store: ResponseCacheStore,
        options: ResolvedCacheOptions,
        connection: RedisConnection,
        l1: CacheL1,
        events: ShieldEvents,
        bus?: InstanceBus,
      ) => new CacheLeases(store, options, connection, bus, l1, events),
      inject: [
        ResponseCacheStore,
        CACHE_OPTIONS,
        getRedisConnectionToken(extras.connection),
        CacheL1,
        ShieldEvents,
        { token: getInstanceBusToken(extras.connection), optional: true },
      ],
    },
    // The interceptor needs the chosen connection (deadline, key builder) under one token.
    { provide: CACHE_CONNECTION, useExisting: getRedisConnectionToken(extras.connection) },
    {
      // The statistics report the delivery lag of that connection's bus, when there is one.
      provide: CACHE_BUS,
      useFactory: (bus?: InstanceBus) => bus ?? null,
      inject: [{ token: getInstanceBusToken(extras.connection), optional: true }],
    },
  ];
  // Fresh hits of routes without guards answered at the route; needs the interceptor to be global.
  providers.push({
    provide: CacheFastPath,
    useFactory: (options: ResolvedCacheOptions, adapterHost?: HttpAdapterHost, appConfig?: ApplicationConfig) =>
      new CacheFastPath(adapterHost, appConfig, extras.interceptor && options.fastPath),
    inject: [CACHE_OPTIONS, { token: HttpAdapterHost, optional: true }, { token: ApplicationConfig, optional: true }],
  });
  if (extras.interceptor) providers.push({ provide: APP_INTERCEPTOR, useExisting: CacheInterceptor });
  return providers;
}
