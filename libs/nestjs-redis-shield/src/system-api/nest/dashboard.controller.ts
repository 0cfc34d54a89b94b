import {
  Controller,
  createParamDecorator,
  type ExecutionContext,
  Get,
  Header,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { NoCache } from '../../cache/nest/cache.decorators.js';
import { httpExchange } from '../../core/http/http-facade.js';
import { SkipRateLimit } from '../../rate-limit/nest/rate-limit.decorators.js';
import type { DashboardData } from '../engine/dashboard-data.js';
import { SystemAdminGuard } from './admin.guard.js';
import { ApiAdminOperation } from './api-docs.decorators.js';
import { DASHBOARD_CSP, DASHBOARD_CSS, dashboardHtml } from './dashboard-page.js';
import { DASHBOARD_JS } from './dashboard-script.js';
import { DashboardService } from './dashboard.service.js';
import { RedisUnavailableFilter } from './redis-unavailable.filter.js';

/**
 * The page's own path as routed (`/api/v1/system/dashboard` in the demo, whatever prefix
 * or `RouterModule` mount the app gives it): the page names its assets and its data under it.
 */
const PagePath = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const exchange = httpExchange(context);
  const path = exchange.routeTemplate ?? (exchange.raw.url ?? '').split('?')[0]!;
  return path.replace(/\/+$/, '');
});

/**
 * The operator dashboard (`SystemApiModule.forRoot({ dashboard: true })`). The page and its
 * two assets hold no data, so anyone may load them, and they are not rate-limited (fixed
 * strings, no Redis call: an operator whose address is blocked still opens the page); the
 * data endpoint is admin only and rate-limited like the other system endpoints, and the
 * page sends the admin's token to it. Every response
 * carries a strict Content-Security-Policy (this origin only, no inline script), never cached.
 */
@Controller('system/dashboard')
@ApiTags('system')
@NoCache()
@UseFilters(RedisUnavailableFilter)
export class DashboardController {
  /** @internal Instantiated by Nest as part of `SystemApiModule` with `dashboard` enabled. */
  constructor(private readonly dashboard: DashboardService) {}

  @Get()
  @ApiExcludeEndpoint()
  @SkipRateLimit()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', DASHBOARD_CSP)
  @Header('Cache-Control', 'no-store')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  page(@PagePath() path: string): string {
    return dashboardHtml(path);
  }

  @Get('app.js')
  @ApiExcludeEndpoint()
  @SkipRateLimit()
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Content-Security-Policy', DASHBOARD_CSP)
  @Header('Cache-Control', 'no-cache')
  @Header('X-Content-Type-Options', 'nosniff')
  script(): string {
    return DASHBOARD_JS;
  }

  @Get('app.css')
  @ApiExcludeEndpoint()
  @SkipRateLimit()
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Content-Security-Policy', DASHBOARD_CSP)
  @Header('Cache-Control', 'no-cache')
  @Header('X-Content-Type-Options', 'nosniff')
  stylesheet(): string {
    return DASHBOARD_CSS;
  }

  @Get('data')
  @UseGuards(SystemAdminGuard)
  @ApiAdminOperation()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: "The operator dashboard's data (all instances)",
    description:
      'Decisions by policy and tier, cache lookups by layer and route, the top rejected clients (HMACs), ' +
      'Redis connections, fallback state and live instances. While Redis is unreachable: 200 with ' +
      '`degraded: true`, `redis_unreachable_since`, and null for the parts that need Redis.',
  })
  @ApiOkResponse({ description: 'The dashboard data' })
  data(): Promise<DashboardData> {
    return this.dashboard.data();
  }
}
