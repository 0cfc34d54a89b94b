import { Inject, Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import { hashId } from 'nestjs-redis-shield';
import type { AppConfig } from '../config/load-config.js';
import { APP_CONFIG } from '../common/app-config.token.js';
import { clientAddress, type DemoRequest, type DemoResponse } from '../common/http-types.js';

/**
 * One log line per request, written when the response finishes (so 401s from the auth
 * middleware, 404s and 429s are logged too): method, route template, status, hashed
 * client, duration and cache status. Never a raw IP, user id, token or query string.
 */
@Injectable()
export class UsageLoggingMiddleware implements NestMiddleware<DemoRequest, DemoResponse> {
  private readonly logger = new Logger('Usage');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  use(req: DemoRequest, res: DemoResponse, next: () => void): void {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Read at finish: the auth middleware sets `user`, routing sets `route`, later.
      const client = req.user
        ? `user:${hashId(this.config.ipHashSecret, req.user.id)}`
        : `ip:${hashId(this.config.ipHashSecret, clientAddress(req))}`;
      const cache = res.getHeader('x-cache-status') ?? '-';
      this.logger.log(
        `${req.method} ${routeTemplate(req)} ${res.statusCode} client=${client} ${ms.toFixed(1)}ms cache=${String(cache)}`,
      );
    });
    next();
  }
}

/**
 * The matched route's template (`/api/v1/models/:id`), or `-` when the request never
 * reached a handler (refused by middleware, or no route matched). Never the concrete
 * path: it may carry ids. Wildcard routes are Nest's own middleware and not-found
 * catch-alls, not handlers.
 */
function routeTemplate(req: DemoRequest): string {
  const path = req.route?.path;
  return typeof path === 'string' && !path.includes('*') ? `${req.baseUrl ?? ''}${path}` : '-';
}
