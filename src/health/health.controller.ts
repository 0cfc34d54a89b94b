import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { RedisConnection, SkipRateLimit } from 'nestjs-redis-shield';
import { APP_CONFIG } from '../common/app-config.token.js';
import type { AppConfig } from '../config/load-config.js';

/** Redis as seen by the health endpoint. */
export interface RedisHealth {
  status: 'up' | 'down';
  /** Round-trip time of a PING, in milliseconds; null when Redis does not answer. */
  latency_ms: number | null;
}

/**
 * Liveness and Redis state; never rate-limited or cached. `degraded` (still 200) when
 * Redis is down in `open` fail mode, where the API keeps serving on its fallback; 503
 * only in `closed` mode, where requests that need Redis are refused.
 */
@Controller('health')
@ApiTags('health')
@ApiOkResponse({ description: 'ok, or degraded with Redis down in open mode' })
@ApiServiceUnavailableResponse({ description: 'Redis down in closed mode' })
@SkipRateLimit()
export class HealthController {
  constructor(
    private readonly redis: RedisConnection,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  async check(@Res({ passthrough: true }) response: { status(code: number): unknown }) {
    const redis = await this.redisHealth();
    const down = redis.status === 'down';
    if (down && this.config.rateLimit.failMode === 'closed') response.status(HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: down ? 'degraded' : 'ok',
      redis,
      fallback: down && this.config.rateLimit.failMode === 'open',
      generated_at: new Date().toISOString(),
    };
  }

  private async redisHealth(): Promise<RedisHealth> {
    // While the connection is down, answer at once instead of waiting for a timeout.
    if (this.redis.state === 'down') return { status: 'down', latency_ms: null };
    try {
      const latency = await this.redis.ping();
      return { status: 'up', latency_ms: Math.round(latency * 100) / 100 };
    } catch {
      return { status: 'down', latency_ms: null };
    }
  }
}
