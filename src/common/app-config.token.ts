/** Injection token of the demo's {@link AppConfig}. */
export const APP_CONFIG = Symbol('APP_CONFIG');
