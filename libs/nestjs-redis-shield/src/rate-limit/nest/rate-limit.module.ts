import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { PolicyRegistry } from '../engine/policy.js';
import { buildRegistry, type RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import { ViolationRecorder } from '../store/violation-recorder.js';
import { ViolationStream } from '../store/violation-stream.js';
import { ClientIdentity } from './client-identity.js';
import { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit.constants.js';
import { LIMITER_EXPORTS, RateLimitConfigurableModule } from './rate-limit.providers.js';
import { RateLimitService } from './rate-limit.service.js';
import { RateLimiter } from './rate-limiter.js';

/**
 * Distributed rate limiting on Redis: policies, the store, `RateLimitService` and the
 * global `RateLimitGuard`. Needs a `RedisModule` connection (extra `connection`,
 * default `default`).
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
    ClientIdentity,
    RateLimitService,
  ],
  // The limiter and the client identity: for the system API, whose status endpoint counts in a policy of its own.
  exports: [...LIMITER_EXPORTS, ViolationStream, ViolationRecorder],
})
export class RateLimitModule extends RateLimitConfigurableModule implements OnApplicationShutdown {
  /** @internal Instantiated by Nest. */
  constructor(@Inject(RateLimiter) private readonly limiter: RateLimiter) {
    super();
  }

  /** After the HTTP server closed: in-flight requests may still have needed the fallback. */
  onApplicationShutdown(): void {
    this.limiter.close();
  }
}
