import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import { RedisConnection } from 'nestjs-redis-shield';
import { clientAddress, type DemoRequest, type DemoResponse } from '../common/http-types.js';

/**
 * One log line per request, written when the response finishes (so 401s from the auth
 * middleware, 404s and 429s are logged too): method, route template, status, hashed
 * client (the HMAC the client's Redis keys carry), duration and cache status. Never a raw IP, user id, token or query string.
 */
@Injectable()
export class UsageLoggingMiddleware implements NestMiddleware<DemoRequest, DemoResponse> {
  private readonly logger = new Logger('Usage');

  constructor(private readonly redis: RedisConnection) {}

  use(req: DemoRequest, res: DemoResponse, next: () => void): void {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Read at finish: the auth middleware sets `user`, routing sets `route`, later.
      // Hashed exactly as in rate-limit keys, so a log line leads to the client's keys.
      const client = req.user ? `user:${req.user.id}` : `ip:${clientAddress(req)}`;
      const hashed = `${client.slice(0, client.indexOf(':'))}:${this.redis.keys.hashId(client)}`;
      const cache = res.getHeader('x-cache-status') ?? '-';
      this.logger.log(
        `${req.method} ${routeTemplate(req)} ${res.statusCode} client=${hashed} ${ms.toFixed(1)}ms cache=${String(cache)}`,
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
