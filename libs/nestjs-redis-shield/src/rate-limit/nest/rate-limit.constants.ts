/**
 * Injection token of the `RateLimitModule` options (its own file so the guard and the
 * module definition can both import it without an import cycle).
 */
export const RATE_LIMIT_MODULE_OPTIONS = Symbol('RATE_LIMIT_MODULE_OPTIONS');

/** Injection token of the `violations` option with its defaults applied and validated (once). */
export const VIOLATION_OPTIONS = Symbol('VIOLATION_OPTIONS');
