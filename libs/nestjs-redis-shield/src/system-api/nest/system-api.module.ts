import { type DynamicModule, Inject, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { shieldError } from '../../core/errors.js';
import { checkIntegerInRange } from '../../core/validators.js';
import { getRedisConnectionToken } from '../../redis/nest/redis.constants.js';
import { DashboardController } from './dashboard.controller.js';
import { DashboardRecorder } from './dashboard-recorder.js';
import { DashboardService } from './dashboard.service.js';
import { SystemAdminGuard } from './admin.guard.js';
import {
  DASHBOARD_CONNECTION,
  type DashboardOption,
  SYSTEM_API_OPTIONS,
  type SystemApiModuleOptions,
} from './system-api.options.js';
import { SystemCacheController } from './system-cache.controller.js';
import { SystemRateLimitController } from './system-rate-limit.controller.js';

/**
 * The `/system` endpoints: cache statistics and invalidation, rate-limit
 * status and client reset, and with `dashboard: true` the operator dashboard. Mounted at `system/...` under the app's prefix (the demo's
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
   * Registers the two controllers and the admin guard (and the dashboard's controller,
   * recorder and service with `dashboard`); without `authorize` the admin endpoints answer 403.
   *
   * @throws Error (`SHIELD_E001`) when `statusLimit.perMinute` is not a positive integer, or
   * `dashboard` is neither a boolean nor `{ connection?: string }` with a non-empty name.
   */
  static forRoot(options: SystemApiModuleOptions = {}): DynamicModule {
    const perMinute = options.statusLimit?.perMinute;
    if (perMinute !== undefined) {
      checkIntegerInRange('statusLimit.perMinute', perMinute, 1, Number.MAX_SAFE_INTEGER, 'a positive integer');
    }
    const dashboard = dashboardOption(options.dashboard);
    return {
      module: SystemApiModule,
      controllers: [SystemCacheController, SystemRateLimitController, ...(dashboard ? [DashboardController] : [])],
      providers: [
        { provide: SYSTEM_API_OPTIONS, useValue: options },
        SystemAdminGuard,
        ...(dashboard
          ? [
              { provide: DASHBOARD_CONNECTION, useExisting: getRedisConnectionToken(dashboard.connection) },
              DashboardRecorder,
              DashboardService,
            ]
          : []),
      ],
    };
  }
}

/** The dashboard's options when it is enabled, else undefined; throws on a malformed option. */
function dashboardOption(value: unknown): DashboardOption | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  const connection = (value as DashboardOption | null)?.connection;
  const keys = typeof value === 'object' && value !== null ? Object.keys(value) : [];
  const valid =
    typeof value === 'object' &&
    value !== null &&
    keys.every((key) => key === 'connection') &&
    (connection === undefined || (typeof connection === 'string' && connection !== ''));
  if (!valid)
    throw shieldError('invalidOption', 'dashboard', value, 'true, false or { connection?: non-empty string }');
  return { connection };
}
