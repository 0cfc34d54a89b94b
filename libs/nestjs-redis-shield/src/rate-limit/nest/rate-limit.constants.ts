/**
 * Injection token of the `RateLimitModule` options (its own file so the guard and the
 * module definition can both import it without an import cycle).
 */
export const RATE_LIMIT_MODULE_OPTIONS = Symbol('RATE_LIMIT_MODULE_OPTIONS');
