import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import {
  RateLimitModule,
  RedisModule,
  ResponseCacheModule,
  ShieldMetricsModule,
  SystemApiModule,
} from 'nestjs-redis-shield';
import type { HttpAdapterName } from './app.factory.js';
import type { AuthUser } from './auth/auth-user.js';
import { authorizeAdmin } from './auth/authorize-admin.js';
import { rateLimitOptions } from './rate-limit.config.js';
import { AnalyticsController } from './analytics/analytics.controller.js';
import { UsageTracker } from './analytics/usage-tracker.service.js';
import { AuthMiddleware } from './auth/auth.middleware.js';
import { APP_CONFIG } from './common/app-config.token.js';
import { CompletionsController } from './completions/completions.controller.js';
import type { AppConfig } from './config/load-config.js';
import { demoGraphqlModule, GRAPHQL_PATH } from './graphql/demo-graphql.module.js';
import { ModelsResolver } from './graphql/models.resolver.js';
import { HealthController } from './health/health.controller.js';
import { RedisProbe } from './health/redis-probe.js';
import { UsageLoggingMiddleware } from './logging/usage-logging.middleware.js';
import { ModelsController } from './models/models.controller.js';
import { ModelsService } from './models/models.service.js';
import { PingGateway } from './ping/ping.gateway.js';

/**
 * The demo API. Build it with {@link AppModule.forRoot} from a loaded {@link AppConfig} and
 * the HTTP platform it runs on (the GraphQL driver depends on it: Apollo on Express,
 * Mercurius on Fastify).
 */
@Module({})
export class AppModule implements NestModule {
  static forRoot(config: AppConfig, adapter: HttpAdapterName = 'express'): DynamicModule {
    return {
      module: AppModule,
      imports: [
        RedisModule.forRoot({
          url: config.redis.url,
          sentinels: config.redis.sentinels,
          sentinelName: config.redis.sentinelName,
          clusterNodes: config.redis.clusterNodes,
          keyPrefix: config.redis.keyPrefix,
          hashSecret: config.ipHashSecret,
          commandTimeoutMs: config.redis.commandTimeoutMs,
        }),
        RateLimitModule.forRoot(rateLimitOptions(config)),
        ResponseCacheModule.forRoot({
          enabled: config.cache.enabled,
          ttlProfiles: {
            ...config.cache.ttlSeconds,
            // The catalogue changes rarely: answered stale at once while one instance refreshes
            // it, and kept answering while its source fails.
            models: {
              ttlSeconds: config.cache.ttlSeconds.models,
              staleWhileRevalidateSeconds: config.cache.modelsStaleSeconds.whileRevalidate,
              staleIfErrorSeconds: config.cache.modelsStaleSeconds.ifError,
            },
          },
          maxEntryBytes: config.cache.maxEntryBytes,
          keyVersion: config.cache.keyVersion,
          l1: { maxBytes: config.cache.l1MaxBytes },
          // A per-user response depends on the plan in the token too: a changed plan gets a fresh entry.
          identityParts: (user) => [(user as AuthUser).plan],
        }),
        // The operator dashboard at /api/v1/system/dashboard (its data for admins only).
        SystemApiModule.forRoot({ authorize: authorizeAdmin, dashboard: true }),
        // GET /metrics, outside the api/v1 prefix (see createApp), with Node process metrics;
        // for admins only: Prometheus sends an admin token (see `src/mint-token.ts`).
        ShieldMetricsModule.forRoot({ defaultMetrics: true, authorize: authorizeAdmin }),
        // POST /graphql: `models` and the limited `completion` mutation.
        demoGraphqlModule(adapter),
      ],
      controllers: [ModelsController, AnalyticsController, CompletionsController, HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        ModelsService,
        ModelsResolver,
        UsageTracker,
        RedisProbe,
        PingGateway,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // Usage logging first so it also sees the 401s that authentication answers. GraphQL is
    // not a Nest route: named here so its requests are authenticated and logged too.
    consumer.apply(UsageLoggingMiddleware, AuthMiddleware).forRoutes('*path', GRAPHQL_PATH);
  }
}
