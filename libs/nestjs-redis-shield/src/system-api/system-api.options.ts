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

/** Options of `SystemApiModule.forRoot`. */
export interface SystemApiModuleOptions {
  /**
   * Who may use the admin endpoints (see {@link AuthorizeOption}). Without it, admin
   * endpoints answer 403 `admin endpoints disabled`.
   */
  authorize?: AuthorizeOption;
}

/** Injection token of the system API options. */
export const SYSTEM_API_OPTIONS = Symbol('SYSTEM_API_OPTIONS');
