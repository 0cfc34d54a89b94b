import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { Observable } from 'rxjs';
import type { BenchPart } from './part.js';

/** Does nothing: what Nest's interceptor pipeline costs by itself. */
@Injectable()
class NoopInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

/**
 * A global interceptor that only calls the handler: the floor of any cache built as a Nest
 * interceptor (a hit from memory can save the handler, not the pipeline around it).
 */
export function noopInterceptorPart(): BenchPart {
  return { providers: [{ provide: APP_INTERCEPTOR, useClass: NoopInterceptor }] };
}
