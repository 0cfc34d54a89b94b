import { ConfigurableModuleBuilder } from '@nestjs/common';
import { ShieldCoreModule } from '../../core/shield-core.module.js';
import { shieldError } from '../../core/errors.js';
import type { ShieldMetricsModuleOptions } from '../engine/metrics.options.js';
import { METRICS_MODULE_OPTIONS } from './metrics.constants.js';
import { metricsController } from './metrics.controller.js';

/** Options of `ShieldMetricsModule.forRoot/forRootAsync` fixed when the module is declared. */
export interface ShieldMetricsModuleExtras {
  /**
   * Route of the Prometheus endpoint (GET), under the app's global prefix unless excluded
   * from it. Default `metrics`; `false` mounts none (serve `ShieldMetrics.metrics()` yourself).
   */
  path: string | false;
  /** Register globally, so `ShieldMetrics` is injectable everywhere. Default true. */
  isGlobal: boolean;
}

export const {
  ConfigurableModuleClass: ShieldMetricsConfigurableModule,
  OPTIONS_TYPE: METRICS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: METRICS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ShieldMetricsModuleOptions>({
  moduleName: 'ShieldMetrics',
  optionsInjectionToken: METRICS_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createShieldMetricsOptions')
  .setExtras<ShieldMetricsModuleExtras>({ path: 'metrics', isGlobal: true }, (definition, extras) => {
    if (extras.path !== false && (typeof extras.path !== 'string' || extras.path.trim() === '')) {
      throw shieldError('invalidOption', 'path', extras.path, 'a route path, or false');
    }
    return {
      ...definition,
      global: extras.isGlobal,
      imports: [...(definition.imports ?? []), ShieldCoreModule],
      controllers: extras.path === false ? [] : [metricsController(extras.path)],
    };
  })
  .build();
