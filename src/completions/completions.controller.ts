import { Body, Controller, type ExecutionContext, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ApiRateLimited, RateLimit, RateLimitCost } from 'nestjs-redis-shield';
import { randomUUID } from 'node:crypto';
import type { AuthUser } from '../auth/auth-user.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageTracker } from '../analytics/usage-tracker.service.js';
import { APP_CONFIG } from '../common/app-config.token.js';
import type { AppConfig } from '../config/load-config.js';
import { completionUnits } from '../rate-limit.config.js';
import { CreateCompletionDto } from './create-completion.dto.js';

const DEFAULT_MAX_TOKENS = 256;

/** `1 + floor(max_tokens / 1000)` rate-limit units of the raw body (see `completionUnits`). */
export function completionCost(context: ExecutionContext): number {
  return completionUnits(context.switchToHttp().getRequest<{ body?: { max_tokens?: unknown } }>().body?.max_tokens);
}

/**
 * A fake text completion: never cached, invalidates nothing. It takes `COMPLETION_DELAY_MS`
 * (default 0), as a real one takes seconds; the `completions` policy's concurrency tier
 * lets `COMPLETIONS_CONCURRENCY` of one client run at once.
 */
@Controller('completions')
@ApiTags('completions')
@ApiRateLimited()
@ApiOkResponse({
  description: 'A completion; costs 1 + floor(max_tokens / 1000) in the completions policy and 1 in the default one',
})
export class CompletionsController {
  constructor(
    private readonly usage: UsageTracker,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(200)
  @RateLimit(['default', 'completions'])
  // The token cost is charged to the completions policy only; the default policy counts the request once.
  @RateLimitCost(completionCost, { policies: ['completions'] })
  async create(@Body() body: CreateCompletionDto, @Req() request: { user?: AuthUser; raw?: { user?: AuthUser } }) {
    if (this.config.completionDelayMs > 0) await sleep(this.config.completionDelayMs);
    const maxTokens = body.max_tokens ?? DEFAULT_MAX_TOKENS;
    const user = request.user ?? request.raw?.user;
    if (user) this.usage.record(user.id, maxTokens);
    const words = body.prompt.trim().split(/\s+/);
    const text = `Echo: ${words.slice(0, Math.min(words.length, maxTokens)).join(' ')}`;
    return {
      id: `cmpl-${randomUUID()}`,
      object: 'text_completion',
      model: 'demo-echo',
      choices: [{ index: 0, text, finish_reason: 'stop' }],
      usage: { prompt_tokens: words.length, completion_tokens: words.length + 1, max_tokens: maxTokens },
      created_at: new Date().toISOString(),
    };
  }
}
