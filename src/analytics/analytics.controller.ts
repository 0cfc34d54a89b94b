import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ApiRateLimited, CacheTtl } from 'nestjs-redis-shield';
import type { AuthUser } from '../auth/auth-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { UsageTracker } from './usage-tracker.service.js';

/** The caller's own usage: authentication required, cached per user (`analytics` profile). */
@Controller('analytics')
@ApiTags('analytics')
@ApiBearerAuth()
@ApiRateLimited()
@ApiOkResponse({ description: "The caller's usage, cached per user (Cache-Control: private)" })
@ApiUnauthorizedResponse({ description: 'No valid token' })
export class AnalyticsController {
  constructor(private readonly usage: UsageTracker) {}

  @Get('usage')
  @CacheTtl('analytics')
  usageOf(@CurrentUser() user: AuthUser) {
    return { user_id: user.id, plan: user.plan, ...this.usage.of(user.id), generated_at: new Date().toISOString() };
  }
}
