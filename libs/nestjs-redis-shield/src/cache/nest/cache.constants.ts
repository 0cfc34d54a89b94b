/** Injection token of the resolved `ResponseCacheModule` options. */
export const CACHE_OPTIONS = Symbol('RESPONSE_CACHE_OPTIONS');
/** Injection token of the raw `ResponseCacheModule` options (the module definition's). */
export const CACHE_MODULE_OPTIONS = Symbol('RESPONSE_CACHE_MODULE_OPTIONS');
/** The Redis connection the cache uses (the module's `connection` extra). */
export const CACHE_CONNECTION = Symbol('RESPONSE_CACHE_CONNECTION');
/** The instance bus of that connection, or null when there is none (its delivery lag goes into the statistics). */
export const CACHE_BUS = Symbol('RESPONSE_CACHE_BUS');
