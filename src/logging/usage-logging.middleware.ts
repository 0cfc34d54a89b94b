import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import {
  cacheStatusOf,
  clientIdOf,
  ipClientId,
  RedisConnection,
  routeTemplateOf,
  userClientId,
} from 'nestjs-redis-shield';
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
      // The id the rate-limit guard keyed the request by (hashed as in its keys), else the
      // same rule applied here (requests refused before the guard ran).
      const client = clientIdOf(req) ?? (req.user ? userClientId(req.user.id) : ipClientId(clientAddress(req)));
      const hashed = `${client.slice(0, client.indexOf(':'))}:${this.redis.keys.hashId(client)}`;
      const cache = cacheStatusOf(req) ?? '-';
      this.logger.log(
        // The template the rate-limit guard recorded; `-` when no handler was reached.
        `${req.method} ${routeTemplateOf(req) ?? '-'} ${res.statusCode} client=${hashed} ${ms.toFixed(1)}ms cache=${String(cache)}`,
      );
    });
    next();
  }
}
