import { Controller, Get, StreamableFile, type Type, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { NoCache } from '../../cache/nest/cache.decorators.js';
import { SkipRateLimit } from '../../rate-limit/nest/rate-limit.decorators.js';
import { ShieldMetricsGuard } from './metrics.guard.js';
import { ShieldMetrics } from './shield-metrics.js';

/**
 * The controller serving the Prometheus exposition at `path` (under the app's global
 * prefix unless excluded from it). Never rate-limited (scrapers come from one address)
 * and never cached (every scrape must read live values). Guarded by the module's
 * `authorize` option, public without it.
 */
export function metricsController(path: string): Type<unknown> {
  @Controller(path)
  @ApiExcludeController()
  @SkipRateLimit()
  @NoCache()
  @UseGuards(ShieldMetricsGuard)
  class ShieldMetricsController {
    constructor(readonly metrics: ShieldMetrics) {}

    @Get()
    async scrape(): Promise<StreamableFile> {
      const text = Buffer.from(await this.metrics.metrics());
      // A StreamableFile sets Content-Type and Content-Length the same way on Express and Fastify.
      return new StreamableFile(text, { type: this.metrics.contentType, length: text.length });
    }
  }
  return ShieldMetricsController;
}
