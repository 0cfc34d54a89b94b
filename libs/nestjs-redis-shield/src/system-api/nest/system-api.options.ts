import type { CanActivate, Type } from '@nestjs/common';

/** The verdict of an admin check. */
export type AdminVerdict = 'allow' | 'unauthenticated' | 'forbidden';

/**
 * Who may call an endpoint: a function of the request (Express request or Fastify
 * request) answering `allow`, `unauthenticated` (401) or `forbidden` (403), or a guard
 * class (created once through the module's injector). Taken by `SystemApiModule` and
 * `ShieldMetricsModule`.
 *
 * @example
 * const authorize: AuthorizeOption = (req) =>
 *   req.user ? (req.user.roles.includes('admin') ? 'allow' : 'forbidden') : 'unauthenticated';
 */
export type AuthorizeOption = ((request: unknown) => AdminVerdict | Promise<AdminVerdict>) | Type<CanActivate>;

/** The limit of `GET /system/rate-limit/status` (`SystemApiModuleOptions.statusLimit`). */
export interface StatusLimitOption {
  /** Calls per minute per client (a positive integer). Default 60. */
  perMinute?: number;
}

/** Options of `SystemApiModule.forRoot`. */
export interface SystemApiModuleOptions {
  /**
   * Who may use the admin endpoints (see {@link AuthorizeOption}). Without it, admin
   * endpoints answer 403 `admin endpoints disabled`.
   */
  authorize?: AuthorizeOption;
  /**
   * The status endpoint's own limit, per client as the rate-limit guard identifies it
   * (policy `SystemRateLimitController.status`, tier `minute`). It counts nothing in the
   * caller's other policies and is not counted by them: a client over its default limit
   * still reads its status, a client over this one gets a 429. Default `{ perMinute: 60 }`.
   */
  statusLimit?: StatusLimitOption;
}

/** Calls per minute per client of the status endpoint when `statusLimit` says nothing. */
export const DEFAULT_STATUS_PER_MINUTE = 60;

/** Injection token of the system API options. */
export const SYSTEM_API_OPTIONS = Symbol('SYSTEM_API_OPTIONS');
