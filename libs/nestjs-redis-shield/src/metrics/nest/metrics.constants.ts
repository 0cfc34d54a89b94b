/** Injection token of the options of `ShieldMetricsModule.forRoot`. */
export const METRICS_MODULE_OPTIONS = Symbol('nestjs-redis-shield:metrics-options');
