import type { CallHandler, ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { mergeMap, type Observable } from 'rxjs';
import type { HttpExchange } from '../../core/http/http-facade.js';
import { compilePattern } from '../engine/pattern.js';
import type { ResponseCacheStore } from '../store/response-cache.store.js';
import { InvalidateCacheOn } from './cache.decorators.js';

/** The invalidations a write runs. */
export type InvalidatingStore = Pick<ResponseCacheStore, 'clearRoutes' | 'clearPaths' | 'clearTags'>;

/**
 * Runs the `@InvalidateCache` targets of a mutating handler (any method but GET and HEAD)
 * once it answered 2xx, before its response goes out. A handler without targets is left
 * alone; an invalidation that fails (Redis unavailable) is logged through `warn`, never
 * turned into an error.
 */
export class WriteInvalidation {
  constructor(
    private readonly reflector: Reflector,
    private readonly store: InvalidatingStore,
    private readonly warn: (message: string) => void,
  ) {}

  /** The handler's response, after its invalidations when it answered 2xx. */
  intercept(
    context: ExecutionContext,
    exchange: Pick<HttpExchange, 'statusCode'>,
    next: CallHandler,
  ): Observable<unknown> {
    const targets = this.reflector.getAllAndOverride(InvalidateCacheOn, [context.getHandler(), context.getClass()]);
    if (!targets) return next.handle();
    return next.handle().pipe(
      mergeMap(async (data: unknown) => {
        if (exchange.statusCode >= 200 && exchange.statusCode < 300) {
          const jobs: Promise<number>[] = [];
          for (const pattern of targets.endpoints ?? []) jobs.push(this.store.clearRoutes(compilePattern(pattern)));
          for (const pattern of targets.paths ?? []) jobs.push(this.store.clearPaths(compilePattern(pattern)));
          if (targets.tags?.length) jobs.push(this.store.clearTags(targets.tags));
          const results = await Promise.allSettled(jobs);
          if (results.some((result) => result.status === 'rejected')) {
            this.warn(
              `@InvalidateCache on ${context.getClass().name}.${context.getHandler().name} failed (Redis unavailable)`,
            );
          }
        }
        return data;
      }),
    );
  }
}
