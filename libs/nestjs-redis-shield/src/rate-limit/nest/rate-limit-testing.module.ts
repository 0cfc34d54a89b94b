import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { type Clock, redisClock } from '../../core/clock.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { ShieldCoreModule } from '../../core/shield-core.module.js';
import { PolicyRegistry } from '../engine/policy.js';
import { buildRegistry, type RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import { MemoryRateLimitStore } from '../store/memory.store.js';
import { ClientIdentity } from './client-identity.js';
import { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit.constants.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { LIMITER_EXPORTS, storeProvider, violationOptionsProvider } from './rate-limit.providers.js';
import { RateLimitService } from './rate-limit.service.js';
import { RateLimiter } from './rate-limiter.js';

/** Options of {@link RateLimitTestingModule}: the module's options plus a clock. */
export interface RateLimitTestingOptions extends RateLimitModuleOptions {
  /** Pin or move time in tests (`ManualClock`). Default: the system clock. */
  clock?: Clock;
  /** Register the guard globally. Default true. */
  guard?: boolean;
}

/**
 * `RateLimitModule` for users' own test suites: the same policies, decorators, guard,
 * headers and service, counting in memory (or in the `store` option's store), so tests
 * need no Redis. Import it instead
 * of `RateLimitModule` (and `RedisModule`) in `Test.createTestingModule`.
 *
 * To swap it into an existing `AppModule`, override the very object `AppModule` imports:
 * Nest matches overrides by identity, so `overrideModule(RateLimitModule)` (the class)
 * does not replace a module registered with `forRoot`.
 *
 * @example
 * // app.module.ts: export const rateLimits = RateLimitModule.forRoot({ ... });
 * Test.createTestingModule({ imports: [AppModule] })
 *   .overrideModule(rateLimits).useModule(RateLimitTestingModule.forRoot({ disabled: true }))
 */
@Module({})
export class RateLimitTestingModule {
  /** A global module that counts in memory with the given options; `guard: false` leaves the guard unregistered. */
  static forRoot(options: RateLimitTestingOptions = {}): DynamicModule {
    const memory = new MemoryRateLimitStore({
      clock: options.clock ?? redisClock,
      maxClients: options.fallbackMaxClients,
    });
    return {
      module: RateLimitTestingModule,
      global: true,
      imports: [ShieldCoreModule],
      providers: [
        { provide: RATE_LIMIT_MODULE_OPTIONS, useValue: options },
        { provide: PolicyRegistry, useFactory: () => buildRegistry(options) },
        violationOptionsProvider,
        {
          provide: RateLimiter,
          useFactory: (events: ShieldEvents) =>
            new RateLimiter({ fallback: memory, failMode: options.failMode, store: options.store, events }),
          inject: [ShieldEvents],
        },
        storeProvider,
        ClientIdentity,
        RateLimitService,
        RateLimitGuard,
        ...(options.guard === false ? [] : [{ provide: APP_GUARD, useExisting: RateLimitGuard }]),
      ],
      exports: LIMITER_EXPORTS,
    };
  }
}
