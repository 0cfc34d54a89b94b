import { Module } from '@nestjs/common';
import { CacheStatsCounter } from './cache-stats.counter.js';
import { CacheInterceptor } from './cache.interceptor.js';
import { CacheService } from './cache.service.js';
import { ResponseCacheConfigurableModule } from './cache.providers.js';
import { resolveCacheOptions, type ResponseCacheModuleOptions } from '../engine/cache.options.js';
import { CACHE_MODULE_OPTIONS, CACHE_OPTIONS } from './cache.constants.js';
import { ResponseCacheWriter } from './response-cache.writer.js';
import { ResponseCacheStore } from '../store/response-cache.store.js';

/**
 * HTTP response caching on Redis: opt-in per route with `@CacheTtl`, per user unless
 * shared, with validators and stampede protection; the `CacheInterceptor` is registered
 * globally (extra `interceptor: false` opts out). Needs a `RedisModule` connection
 * (extra `connection`, default `default`).
 */
@Module({
  providers: [
    {
      provide: CACHE_OPTIONS,
      useFactory: (options: ResponseCacheModuleOptions) => resolveCacheOptions(options),
      inject: [CACHE_MODULE_OPTIONS],
    },
    ResponseCacheWriter,
    CacheStatsCounter,
    CacheInterceptor,
    CacheService,
  ],
  exports: [CacheInterceptor, CacheService, ResponseCacheStore, ResponseCacheWriter],
})
export class ResponseCacheModule extends ResponseCacheConfigurableModule {}
