import type { Registry } from 'prom-client';

/** Options of `ShieldMetricsModule.forRoot`. */
export interface ShieldMetricsModuleOptions {
  /**
   * The prom-client registry to add the metrics to, e.g. the global `register` so one
   * endpoint serves yours and ours. Default: a registry of the module's own.
   */
  registry?: Registry;
  /** Prefix of every metric name. Default `shield_`. */
  prefix?: string;
  /** Also collect prom-client's default Node.js process metrics into the registry. Default false. */
  defaultMetrics?: boolean;
}
