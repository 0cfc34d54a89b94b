import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { APP_GUARD } from '@nestjs/core';
import type { BenchAppConfig } from '../config.js';
import type { BenchPart } from './part.js';

/**
 * @nestjs/throttler with @nest-lab/throttler-storage-redis, as their READMEs set it up: one
 * named throttler per tier, the Redis storage given a URL, ThrottlerGuard as a global guard.
 * The tracker is the default (`req.ip`, X-Forwarded-For since the app trusts the proxy).
 */
export function throttlerPart(config: BenchAppConfig): BenchPart {
  return {
    imports: [
      ThrottlerModule.forRoot({
        throttlers: config.tiers.map((tier) => ({ name: tier.name, limit: tier.limit, ttl: tier.windowMs })),
        storage: new ThrottlerStorageRedisService(config.redisUrl),
      }),
    ],
    providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
  };
}
