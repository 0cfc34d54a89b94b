import { type DynamicModule, Inject, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { checkIntegerInRange } from '../../core/validators.js';
import { SystemAdminGuard } from './admin.guard.js';
import { SYSTEM_API_OPTIONS, type SystemApiModuleOptions } from './system-api.options.js';
import { SystemCacheController } from './system-cache.controller.js';
import { SystemRateLimitController } from './system-rate-limit.controller.js';

/**
 * The `/system` endpoints: cache statistics and invalidation, rate-limit
 * status and client reset. Mounted at `system/...` under the app's prefix (the demo's
 * `api/v1`); re-mount with `RouterModule`. Needs `ResponseCacheModule` and
 * `RateLimitModule`. Admin endpoints are disabled (403) unless `authorize` is given. The
 * status endpoint has a limit of its own (`statusLimit`, default 60 per minute per client).
 *
 * @example
 * SystemApiModule.forRoot({ authorize: (req) => (req.user ? (req.user.roles.includes('admin') ? 'allow' : 'forbidden') : 'unauthenticated') })
 */
@Module({})
export class SystemApiModule implements OnModuleInit {
  /** @internal Instantiated by Nest. */
  constructor(@Inject(SYSTEM_API_OPTIONS) private readonly options: SystemApiModuleOptions) {}

  /** The one start-up warning when the admin endpoints are disabled. */
  onModuleInit(): void {
    if (!this.options.authorize) {
      new Logger('SystemApi').warn('no authorize option: the admin endpoints of the system API answer 403 (disabled)');
    }
  }

  /**
   * Registers the two controllers and the admin guard; without `authorize` the admin endpoints answer 403.
   *
   * @throws Error (`SHIELD_E001`, through core's validators) when `statusLimit.perMinute` is not a positive integer.
   */
  static forRoot(options: SystemApiModuleOptions = {}): DynamicModule {
    const perMinute = options.statusLimit?.perMinute;
    if (perMinute !== undefined) {
      checkIntegerInRange('statusLimit.perMinute', perMinute, 1, Number.MAX_SAFE_INTEGER, 'a positive integer');
    }
    return {
      module: SystemApiModule,
      controllers: [SystemCacheController, SystemRateLimitController],
      providers: [{ provide: SYSTEM_API_OPTIONS, useValue: options }, SystemAdminGuard],
    };
  }
}
