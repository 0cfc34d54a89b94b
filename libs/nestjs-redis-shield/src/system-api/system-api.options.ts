import type { CanActivate, Type } from '@nestjs/common';

/** The verdict of an admin check. */
export type AdminVerdict = 'allow' | 'unauthenticated' | 'forbidden';

/** Options of `SystemApiModule.forRoot`. */
export interface SystemApiModuleOptions {
  /**
   * Who may use the admin endpoints: a function of the request (Express request or
   * Fastify request) answering `allow`, `unauthenticated` (401) or `forbidden` (403), or a
   * guard class. Without either, admin endpoints answer 403 `admin endpoints disabled`.
   */
  authorize?: ((request: unknown) => AdminVerdict | Promise<AdminVerdict>) | Type<CanActivate>;
}

/** Injection token of the system API options. */
export const SYSTEM_API_OPTIONS = Symbol('SYSTEM_API_OPTIONS');
