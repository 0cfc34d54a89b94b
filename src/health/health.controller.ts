import { Controller, Get } from '@nestjs/common';

/** Redis as seen by the health endpoint. */
export interface RedisHealth {
  status: 'up' | 'down' | 'unknown';
  /** Round-trip time of a PING, in milliseconds; null when Redis does not answer. */
  latency_ms: number | null;
}

/**
 * Liveness and Redis state. Never rate-limited or cached. Redis is reported as
 * `unknown` until the Redis layer is wired in (then `up`/`down` with latency).
 */
@Controller('health')
export class HealthController {
  @Get()
  check() {
    const redis: RedisHealth = { status: 'unknown', latency_ms: null };
    return {
      status: redis.status === 'up' ? 'ok' : 'degraded',
      redis,
      fallback: false,
      generated_at: new Date().toISOString(),
    };
  }
}
