import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { type ConnectionStatusSource, ShieldStatus } from '../core/events/shield-status.js';
import { shieldError } from '../core/errors.js';
import { checkOneOf, checkPositiveNumber } from '../core/validators.js';
import { DEFAULT_REDIS_CONNECTION } from '../redis/nest/redis.constants.js';

/** Default PING budget of {@link RedisHealthIndicator.isHealthy}, in ms. */
export const DEFAULT_HEALTH_PING_TIMEOUT_MS = 1000;

/**
 * Options of {@link RedisHealthIndicator.isHealthy}.
 *
 * @example
 * this.redis.isHealthy('redis-cache', { connection: 'cache', timeoutMs: 250, failMode: 'closed' });
 */
export interface RedisHealthCheckOptions {
  /** The `RedisModule` connection to check. Default `'default'`. */
  connection?: string;
  /** How long the PING may take before Redis counts as down, in ms. Default 1000. */
  timeoutMs?: number;
  /**
   * How a Redis outage is reported. `open`: the application keeps serving without Redis
   * (rate limits counted in memory, cache bypassed), so the indicator stays `up` with
   * degraded details and the health check answers 200. `closed`: the indicator is `down`
   * and the health check answers 503. Default: the `failMode` of the `RateLimitModule`
   * counting on this connection, `'open'` when none does.
   */
  failMode?: 'open' | 'closed';
}

/** Details of a healthy Redis: it answered PING within the budget. */
export type RedisHealthUpDetails = {
  /** Redis answered. */
  redis: 'up';
  /** Round trip of the PING, in ms, rounded to 0.01 ms. */
  latency_ms: number;
};

/**
 * Details of a Redis outage in `open` fail mode. The indicator's status stays `up`
 * because the application still serves; these fields tell monitoring it is degraded.
 */
export type RedisHealthDegradedDetails = {
  /** Redis itself is unreachable, stalled or behind an open circuit breaker. */
  redis: 'down';
  /** The application serves, but without Redis. */
  degraded: true;
  /** The library's fail-open path is serving: rate limits counted in memory, cache bypassed. */
  fallback: true;
  /** No PING answered, so no latency. */
  latency_ms: null;
};

/** Details of a Redis outage in `closed` fail mode (the indicator is `down`, Terminus answers 503). */
export type RedisHealthDownDetails = {
  /** Redis itself is unreachable, stalled or behind an open circuit breaker. */
  redis: 'down';
  /** No PING answered, so no latency. */
  latency_ms: null;
};

/**
 * What {@link RedisHealthIndicator.isHealthy} resolves with: one entry under `Key`, in
 * one of its three shapes (up, up but degraded, down).
 *
 * @example
 * { redis: { status: 'up', redis: 'up', latency_ms: 0.42 } }
 */
export type RedisHealthResult<Key extends string = 'redis'> =
  | HealthIndicatorResult<Key, 'up', RedisHealthUpDetails>
  | HealthIndicatorResult<Key, 'up', RedisHealthDegradedDetails>
  | HealthIndicatorResult<Key, 'down', RedisHealthDownDetails>;

/**
 * A Terminus health indicator for a `RedisModule` connection that knows the library's
 * fail mode: in `open` mode a Redis outage does not turn the health check into a 503
 * (the application still serves, from its in-memory fallback), it is reported as
 * degraded details of an `up` indicator instead. Add it to the providers of a module
 * that imports `TerminusModule`; `RedisModule.forRoot` must be imported by the application.
 * Import it from `nestjs-redis-shield/terminus` (needs `@nestjs/terminus` 11 or 12).
 *
 * Results under `key` (`redis` by default):
 * - Redis answers PING: `{ status: 'up', redis: 'up', latency_ms: 0.42 }`
 * - Redis down, `open` mode: `{ status: 'up', redis: 'down', degraded: true, fallback: true, latency_ms: null }`
 * - Redis down, `closed` mode: `{ status: 'down', redis: 'down', latency_ms: null }` (Terminus answers 503)
 *
 * Keep the health route out of rate limiting (`@SkipRateLimit()`): in `closed` mode the
 * limiter would otherwise answer 503 for it before the indicator runs.
 *
 * @example
 * @Controller('health')
 * @SkipRateLimit()
 * export class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly redis: RedisHealthIndicator) {}
 *
 *   @Get()
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.redis.isHealthy('redis')]);
 *   }
 * }
 */
@Injectable()
export class RedisHealthIndicator {
  /** @internal Instantiated by Nest; needs `TerminusModule` and a `RedisModule` connection. */
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly status: ShieldStatus,
  ) {}

  /**
   * Checks one Redis connection. Answers at once while the connection is down (no PING
   * is sent, no timeout awaited); otherwise waits at most `timeoutMs` for a PING.
   *
   * @param key The key of the result in the health check response. Default `'redis'`.
   * @throws Error when `options.connection` names no registered connection, or an option
   *   is invalid: a programming error, not an outage.
   */
  async isHealthy<const Key extends string = 'redis'>(
    key: Key = 'redis' as Key,
    options: RedisHealthCheckOptions = {},
  ): Promise<RedisHealthResult<Key>> {
    const connectionName = options.connection ?? DEFAULT_REDIS_CONNECTION;
    const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_PING_TIMEOUT_MS;
    checkPositiveNumber('timeoutMs', timeoutMs, 'ms');
    if (options.failMode !== undefined) checkOneOf('failMode', options.failMode, ['open', 'closed'], 'open or closed');
    const connection = this.status.connection(connectionName);
    if (!connection) {
      const known = this.status.connections().map(({ name }) => name);
      throw shieldError('unknownConnection', 'RedisHealthIndicator', connectionName, known);
    }

    const session = this.health.check(key);
    const latencyMs = await this.pingMs(connection, timeoutMs);
    if (latencyMs !== undefined) {
      const up: RedisHealthUpDetails = { redis: 'up', latency_ms: Math.round(latencyMs * 100) / 100 };
      return session.up(up);
    }
    const failMode = options.failMode ?? this.status.failModeOf(connectionName) ?? 'open';
    if (failMode === 'open') {
      const degraded: RedisHealthDegradedDetails = { redis: 'down', degraded: true, fallback: true, latency_ms: null };
      return session.up(degraded);
    }
    const down: RedisHealthDownDetails = { redis: 'down', latency_ms: null };
    return session.down(down);
  }

  /** The PING round trip in ms, or undefined when Redis is down or did not answer in time. */
  private async pingMs(connection: ConnectionStatusSource, timeoutMs: number): Promise<number | undefined> {
    // A down connection (or open breaker) would fail anyway: answer without waiting.
    if (connection.state === 'down' || connection.circuitOpen) return undefined;
    try {
      return await connection.ping({ timeoutMs });
    } catch {
      return undefined;
    }
  }
}
