import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { RequestAuthorizer } from '../../system-api/nest/admin.guard.js';
import type { ShieldMetricsModuleOptions } from '../engine/metrics.options.js';
import { METRICS_MODULE_OPTIONS } from './metrics.constants.js';

/**
 * Guards the metrics endpoint with the module's `authorize` option: 401
 * `{"error":"authentication required"}` or 403 `{"error":"metrics access denied"}` on its
 * verdict. Without the option every scrape is let through (the endpoint is public).
 */
@Injectable()
export class ShieldMetricsGuard implements CanActivate {
  private readonly authorizer: RequestAuthorizer | undefined;

  /** @internal Instantiated by Nest as part of `ShieldMetricsModule`. */
  constructor(@Inject(METRICS_MODULE_OPTIONS) options: ShieldMetricsModuleOptions, moduleRef: ModuleRef) {
    this.authorizer = options.authorize && new RequestAuthorizer(options.authorize, moduleRef, 'metricsAccessDenied');
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    return this.authorizer ? this.authorizer.check(context) : true;
  }
}
