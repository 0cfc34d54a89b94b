import KeyvRedis from '@keyv/redis';
import { CacheInterceptor, CacheModule } from '@nestjs/cache-manager';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Keyv } from 'keyv';
import type { BenchAppConfig } from '../config.js';
import { CacheManagerCachedPingController } from '../controllers/cache-manager-cached.controller.js';
import type { BenchPart } from './part.js';

/**
 * @nestjs/cache-manager as its docs set it up with Redis: cache-manager over a Keyv whose
 * store is @keyv/redis, CacheInterceptor as a global interceptor, `@CacheTTL` on the route.
 */
export function cacheManagerPart(config: BenchAppConfig): BenchPart {
  return {
    imports: [CacheModule.register({ stores: [new Keyv({ store: new KeyvRedis(config.redisUrl) })] })],
    providers: [{ provide: APP_INTERCEPTOR, useClass: CacheInterceptor }],
    controller: CacheManagerCachedPingController,
  };
}
