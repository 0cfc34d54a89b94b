import { Module } from '@nestjs/common';
import { PolicyRegistry } from './policy.js';
import { RATE_LIMIT_MODULE_OPTIONS, RateLimitConfigurableModule } from './rate-limit.module-definition.js';
import { buildRegistry, type RateLimitModuleOptions } from './rate-limit.options.js';
import { RateLimitService } from './rate-limit.service.js';
import { RateLimitStore } from './store.interface.js';

/**
 * Distributed rate limiting on Redis: policies, the store and `RateLimitService`.
 * Needs a `RedisModule` connection (extra `connection`, default `default`); the store
 * provider is added by the module definition, which knows that name.
 *
 * @example
 * RateLimitModule.forRoot({ policies: { completions: { tiers: { minute: { limit: 10, windowMs: 60_000 } } } } })
 */
@Module({
  providers: [
    {
      provide: PolicyRegistry,
      useFactory: (options: RateLimitModuleOptions) => buildRegistry(options),
      inject: [RATE_LIMIT_MODULE_OPTIONS],
    },
    RateLimitService,
  ],
  exports: [RateLimitService, PolicyRegistry, RateLimitStore],
})
export class RateLimitModule extends RateLimitConfigurableModule {}
