import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AuthUser } from '../auth/auth-user.js';
import { UsageTracker } from '../analytics/usage-tracker.service.js';
import { CreateCompletionDto } from './create-completion.dto.js';

const DEFAULT_MAX_TOKENS = 256;

/** A fake text completion: never cached, invalidates nothing. */
@Controller('completions')
export class CompletionsController {
  constructor(private readonly usage: UsageTracker) {}

  @Post()
  @HttpCode(200)
  create(@Body() body: CreateCompletionDto, @Req() request: { user?: AuthUser; raw?: { user?: AuthUser } }) {
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
