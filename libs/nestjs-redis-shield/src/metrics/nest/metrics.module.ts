import { Module } from '@nestjs/common';
import { ShieldMetricsConfigurableModule } from './metrics.providers.js';
import { ShieldMetrics } from './shield-metrics.js';

/**
 * Prometheus metrics of rate limiting, caching and Redis, fed by the library's
 * internal events, and a `GET /metrics` endpoint for them.
 *
 * @example
 * // Our metrics beside yours, on one endpoint outside the global prefix:
 * ShieldMetricsModule.forRoot({ registry: register, defaultMetrics: true })
 * app.setGlobalPrefix('api/v1', { exclude: ['metrics'] });
 */
@Module({ providers: [ShieldMetrics], exports: [ShieldMetrics] })
export class ShieldMetricsModule extends ShieldMetricsConfigurableModule {}
