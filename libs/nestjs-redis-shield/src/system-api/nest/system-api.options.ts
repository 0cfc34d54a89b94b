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

/** Options of the operator dashboard (`SystemApiModuleOptions.dashboard`). */
export interface DashboardOption {
  /**
   * The `RedisModule` connection whose Redis holds the dashboard's counts (one hash,
   * `dashboard:counts`). Default: the default connection.
   */
  connection?: string;
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
  /**
   * The operator dashboard: `GET system/dashboard` (a page: HTML, `dashboard/app.css`,
   * `dashboard/app.js`; public, as they hold no data) and `GET system/dashboard/data` (its
   * JSON; admin only, through `authorize`), refreshed by the page every 2 s. The page asks
   * for the admin's bearer token, keeps it in the tab's `sessionStorage` and sends it as
   * `Authorization: Bearer`, so `authorize` must accept that header. It shows decisions by
   * policy and tier, the cache by layer and route, the top rejected clients (HMACs, with a
   * reset button), Redis connections, fallback state and instances. With it enabled each
   * instance adds its counts to one Redis hash once per second (never per request).
   * `true` uses the default connection. Default `false`.
   */
  dashboard?: boolean | DashboardOption;
}

/** Calls per minute per client of the status endpoint when `statusLimit` says nothing. */
export const DEFAULT_STATUS_PER_MINUTE = 60;

/** @internal Injection token of the connection the dashboard's counts live on. */
export const DASHBOARD_CONNECTION = Symbol('DASHBOARD_CONNECTION');

/** Injection token of the system API options. */
export const SYSTEM_API_OPTIONS = Symbol('SYSTEM_API_OPTIONS');
