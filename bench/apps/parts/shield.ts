import type { INestApplication } from '@nestjs/common';
import {
  RateLimitModule,
  type RateLimitModuleOptions,
  RedisModule,
  ResponseCacheModule,
  ShieldEvents,
  ShieldMetricsModule,
  ShieldStatus,
} from 'nestjs-redis-shield';
import type { BenchAppConfig } from '../config.js';
import { ShieldCachedPingController, ShieldStalePingController } from '../controllers/shield-cached.controller.js';
import type { BenchPart } from './part.js';

/**
 * nestjs-redis-shield as a user would set it up: RedisModule, then RateLimitModule (guard
 * registered globally) and/or ResponseCacheModule (interceptor registered globally).
 * The Redis deadline is 1 s instead of the default 100 ms so that a load spike never moves
 * decisions to the in-memory fallback (that would flatter the figures); `watch` reports it
 * if it happened anyway.
 */
export function shieldPart(config: BenchAppConfig): BenchPart {
  const imports = [
    RedisModule.forRoot({
      url: config.redisUrl,
      hashSecret: 'bench-hash-secret',
      commandTimeoutMs: 1000,
      ...(config.autoPipelining === undefined ? {} : { redisOptions: { enableAutoPipelining: config.autoPipelining } }),
    }),
  ];
  if (config.limiter === 'shield') {
    const options: RateLimitModuleOptions = {
      defaultTiers: {
        ...Object.fromEntries(config.tiers.map((tier) => [tier.name, { limit: tier.limit, windowMs: tier.windowMs }])),
        // In the same script call as the rate tiers; released by one small script once the response is over.
        ...(config.concurrency ? { concurrent: { kind: 'concurrency' as const, limit: config.concurrency } } : {}),
      },
    };
    if (config.violations === false) options.violations = { stream: false, log: false };
    if (config.blockCache === false) options.localBlockCache = false;
    imports.push(RateLimitModule.forRoot(options));
  }
  if (config.cache === 'shield') {
    imports.push(
      ResponseCacheModule.forRoot({
        ...(config.l1 === false ? { l1: { maxBytes: 0 } } : {}),
        ...(config.fastPath === false ? { fastPath: false } : {}),
      }),
    );
  }
  if (config.metrics) imports.push(ShieldMetricsModule.forRoot({}));
  return {
    imports,
    controller:
      config.cache !== 'shield' ? undefined : config.stale ? ShieldStalePingController : ShieldCachedPingController,
    watch(app: INestApplication) {
      const problems: string[] = [];
      app.get(ShieldEvents).on('redis.state', (event) => {
        if (event.state === 'down') problems.push(`Redis connection ${event.connection} down (${event.reason})`);
      });
      const status = app.get(ShieldStatus);
      return () => [
        ...problems,
        ...status.connections().flatMap((c) => (c.circuitOpen ? [`circuit of ${c.name} open`] : [])),
        ...status.limiters().flatMap((l) => (l.fallbackActive ? ['rate limiter on its in-memory fallback'] : [])),
      ];
    },
  };
}
