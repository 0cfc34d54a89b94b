import { Controller, Get } from '@nestjs/common';
import type { AuthUser } from '../auth/auth-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { UsageTracker } from './usage-tracker.service.js';

/** The caller's own usage: authentication required, per-user cache entries once wired. */
@Controller('analytics')
export class AnalyticsController {
  constructor(private readonly usage: UsageTracker) {}

  @Get('usage')
  usageOf(@CurrentUser() user: AuthUser) {
    return { user_id: user.id, plan: user.plan, ...this.usage.of(user.id), generated_at: new Date().toISOString() };
  }
}
