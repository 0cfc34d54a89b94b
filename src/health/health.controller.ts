import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { SkipRateLimit } from 'nestjs-redis-shield';
import { APP_CONFIG } from '../common/app-config.token.js';
import type { AppConfig } from '../config/load-config.js';
import { RedisProbe } from './redis-probe.js';

/**
 * Liveness and Redis state; never rate-limited or cached. `degraded` (still 200) when
 * Redis is down in `open` fail mode, where the API keeps serving on its fallback; 503
 * only in `closed` mode, where requests that need Redis are refused. Redis is probed at
 * most once a second per instance ({@link RedisProbe}): the endpoint is not rate-limited,
 * so a PING per request would let any client make Redis work without limit.
 */
@Controller('health')
@ApiTags('health')
@ApiOkResponse({ description: 'ok, or degraded with Redis down in open mode' })
@ApiServiceUnavailableResponse({ description: 'Redis down in closed mode' })
@SkipRateLimit()
export class HealthController {
  constructor(
    private readonly probe: RedisProbe,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  async check(@Res({ passthrough: true }) response: { status(code: number): unknown }) {
    const redis = await this.probe.check();
    const down = redis.status === 'down';
    if (down && this.config.rateLimit.failMode === 'closed') response.status(HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: down ? 'degraded' : 'ok',
      redis,
      fallback: down && this.config.rateLimit.failMode === 'open',
      generated_at: new Date().toISOString(),
    };
  }
}
