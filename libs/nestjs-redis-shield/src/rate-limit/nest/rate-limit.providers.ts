import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { ShieldStatus } from '../../core/events/shield-status.js';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import { getInstanceBusToken } from '../../bus/nest/bus.constants.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { DEFAULT_REDIS_CONNECTION, getRedisConnectionToken } from '../../redis/nest/redis.constants.js';
import { type RateLimitModuleOptions, resolveViolationOptions } from '../engine/rate-limit.options.js';
import type { ResolvedViolationOptions } from '../engine/violation.js';
import { RateLimitStore } from '../store/store.interface.js';
import { ViolationRecorder } from '../store/violation-recorder.js';
import { ViolationStream } from '../store/violation-stream.js';
import { RATE_LIMIT_MODULE_OPTIONS, VIOLATION_OPTIONS } from './rate-limit.constants.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimiter } from './rate-limiter.js';
import { ClientIdentity } from './client-identity.js';
import { RateLimitService } from './rate-limit.service.js';
import { PolicyRegistry } from '../engine/policy.js';

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
        ...connectionProviders(extras.connection),
        ...guardProviders(extras.guard),
      ],
    }),
  )
  .build();

/** The `violations` option resolved and validated once, at start-up (both modules). */
export const violationOptionsProvider: Provider = {
  provide: VIOLATION_OPTIONS,
  useFactory: (options: RateLimitModuleOptions) => resolveViolationOptions(options.violations),
  inject: [RATE_LIMIT_MODULE_OPTIONS],
};

/** The active store: the limiter's (the Redis store, or the `store` option). */
export const storeProvider: Provider = {
  provide: RateLimitStore,
  useFactory: (limiter: RateLimiter) => limiter.primary,
  inject: [RateLimiter],
};

/** What lives on the Redis connection: the limiter (which chooses the store) and the violation stream. */
function connectionProviders(connectionName: string): Provider[] {
  const connectionToken = getRedisConnectionToken(connectionName);
  return [
    {
      provide: RateLimiter,
      useFactory: (
        options: RateLimitModuleOptions,
        connection: RedisConnection,
        status: ShieldStatus,
        events: ShieldEvents,
        bus: InstanceBus,
      ) => RateLimiter.create(options, connection, { status, events, bus }),
      inject: [
        RATE_LIMIT_MODULE_OPTIONS,
        connectionToken,
        ShieldStatus,
        ShieldEvents,
        getInstanceBusToken(connectionName),
      ],
    },
    storeProvider,
    violationOptionsProvider,
    {
      provide: ViolationStream,
      useFactory: (violations: ResolvedViolationOptions, connection: RedisConnection) =>
        new ViolationStream(connection, violations.maxLength),
      inject: [VIOLATION_OPTIONS, connectionToken],
    },
    {
      provide: ViolationRecorder,
      useFactory: (
        violations: ResolvedViolationOptions,
        connection: RedisConnection,
        events: ShieldEvents,
        stream: ViolationStream,
      ) => {
        const recorder = new ViolationRecorder(violations, connection.keys, events, stream);
        // Violations of requests still in flight at shutdown are written before the connection closes.
        connection.beforeClose(() => recorder.close());
        return recorder;
      },
      inject: [VIOLATION_OPTIONS, connectionToken, ShieldEvents, ViolationStream],
    },
  ];
}

function guardProviders(global: boolean): Provider[] {
  return global ? [RateLimitGuard, { provide: APP_GUARD, useExisting: RateLimitGuard }] : [RateLimitGuard];
}

/**
 * What `RateLimitModule` and `RateLimitTestingModule` both export: the service, the
 * policies, the store, the guard, the client identity and the limiter (the system API's
 * status endpoint counts through them), and the options.
 */
export const LIMITER_EXPORTS = [
  RateLimitService,
  PolicyRegistry,
  RateLimitStore,
  RateLimitGuard,
  ClientIdentity,
  RateLimiter,
  RATE_LIMIT_MODULE_OPTIONS,
];
