import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  type Clock,
  type PolicyDefinition,
  RateLimitModule,
  RateLimitService,
  RateLimitStore,
  RedisConnection,
  RedisModule,
  type RedisModuleOptions,
} from 'nestjs-redis-shield';
import { waitFor } from '../../support/wait-for.js';

/** A Nest app with a Redis connection and the rate-limit module, as a user would wire it. */
export interface LimiterApp {
  app: INestApplication;
  service: RateLimitService;
  store: RateLimitStore;
  connection: RedisConnection;
  close(): Promise<void>;
}

/** Boots a limiter on `redis` (connection options) with the given policies and clock. */
export async function startLimiter(
  redis: RedisModuleOptions,
  options: {
    policies?: Record<string, PolicyDefinition>;
    clock?: Clock;
    defaultTiers?: PolicyDefinition['tiers'];
  } = {},
): Promise<LimiterApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      RedisModule.forRoot({ hashSecret: 'rate-limit-tests', commandTimeoutMs: 2000, ...redis, clock: options.clock }),
      RateLimitModule.forRoot({ policies: options.policies, defaultTiers: options.defaultTiers }),
    ],
  }).compile();
  const app = await moduleRef.createNestApplication({ logger: false }).init();
  const connection = app.get(RedisConnection);
  await waitFor(() => connection.state === 'ready', 5000, 'the Redis connection');
  return {
    app,
    service: app.get(RateLimitService),
    store: app.get<RateLimitStore>(RateLimitStore),
    connection,
    close: () => app.close(),
  };
}
