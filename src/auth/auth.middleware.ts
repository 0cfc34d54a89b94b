import { Inject, Injectable, type NestMiddleware, UnauthorizedException } from '@nestjs/common';
import {
  type ClientAddressOptions,
  ipClientId,
  normalizeIp,
  RateLimitExceededException,
  type RateLimitResult,
  RateLimitService,
  RedisCommandError,
  RedisUnavailableError,
} from 'nestjs-redis-shield';
import type { AppConfig } from '../config/load-config.js';
import { APP_CONFIG } from '../common/app-config.token.js';
import type { DemoRequest, DemoResponse } from '../common/http-types.js';
import { AUTH_FAILURES_POLICY, rateLimitOptions } from '../rate-limit.config.js';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier.js';

/** Most client addresses this instance remembers as over their failure limit (the oldest are forgotten). */
const MAX_BLOCKED = 10_000;

/**
 * Authentication as middleware, so it runs before every guard (the rate-limit guard
 * keys authenticated clients by `request.user`). No `Authorization` header means an
 * anonymous request; a malformed, wrongly signed or expired bearer token is a 401.
 *
 * Failed authentications are limited per client address (policy `auth-failures`,
 * `AUTH_FAILURES_PER_MINUTE`): each 401 is counted through `RateLimitService` under the id
 * the guard gives that request (`ip:<address>`, IPv6 by the module's `ipv6Subnet`); the
 * failure over the limit is a 429 instead of a 401, and until its retry time this instance
 * answers the address's credentialed requests 429 before verifying their token. A
 * credential-stuffing client is slowed to the limit; other clients are unaffected.
 */
@Injectable()
export class AuthMiddleware implements NestMiddleware<DemoRequest, DemoResponse> {
  private readonly verifier: JwtVerifier;
  /** The rate-limit module's options: the same `ipv6Subnet` as the guard's. */
  private readonly addresses: ClientAddressOptions;
  /** Client ids over their failure limit, with when a failure may be counted again and when the tier resets (app ms). */
  private readonly blocked = new Map<string, Block>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly rateLimits: RateLimitService,
  ) {
    this.verifier = new JwtVerifier(config.jwtSecret);
    this.addresses = rateLimitOptions(config);
  }

  async use(req: DemoRequest, res: DemoResponse, next: () => void): Promise<void> {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return next();
    const client = this.clientIdOf(req);
    const blocked = this.blockedFor(client);
    if (blocked) throw tooManyFailures(res, blocked);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    try {
      if (!match) throw new InvalidTokenError('Authorization header must be "Bearer <token>"');
      req.user = await this.verifier.verify(match[1]);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      const rejected = await this.countFailure(client);
      if (rejected) throw tooManyFailures(res, rejected);
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      // Thrown, not passed to next(): Nest's middleware proxy hands it to the exception
      // filters, which answer JSON on both adapters.
      throw new UnauthorizedException(error.message);
    }
    next();
  }

  /**
   * The id the rate-limit guard gives this request when it is anonymous (a failed token
   * leaves it so): `ip:` and the address the adapter resolved (trust-proxy aware), or the
   * connecting address when that is not an IP address, as the guard does.
   */
  private clientIdOf(req: DemoRequest): string {
    const address = normalizeIp(req.ip) !== undefined ? req.ip : req.socket?.remoteAddress;
    return ipClientId(address, this.addresses);
  }

  /** The block of a client over its limit (as this instance knows it); undefined once it ran out. */
  private blockedFor(client: string): Block | undefined {
    const block = this.blocked.get(client);
    if (block && block.untilMs <= Date.now()) {
      this.blocked.delete(client);
      return undefined;
    }
    return block;
  }

  /** Counts one failure; the block when it is over the limit. Redis unavailable: not counted (fail open). */
  private async countFailure(client: string): Promise<Block | undefined> {
    let result: RateLimitResult;
    try {
      result = await this.rateLimits.consume(client, AUTH_FAILURES_POLICY);
    } catch (error) {
      if (error instanceof RedisUnavailableError || error instanceof RedisCommandError) return undefined;
      throw error;
    }
    if (result.allowed) return undefined;
    const now = Date.now();
    const block = {
      untilMs: now + result.retryAfterMs,
      resetAtMs: now + Math.max(result.resetMs, result.retryAfterMs),
    };
    if (this.blocked.size >= MAX_BLOCKED) this.blocked.delete(this.blocked.keys().next().value!);
    this.blocked.set(client, block);
    return block;
  }
}

/** A client address over its failed-authentication limit, in app ms. */
interface Block {
  /** When a failure may be counted again (the rejection's retry time). */
  untilMs: number;
  /** When the limiting tier is fully reset. */
  resetAtMs: number;
}

/** The documented 429 (body, `Retry-After`) for a client over its failed-authentication limit. */
function tooManyFailures(res: DemoResponse, block: Block): RateLimitExceededException {
  const retryAfter = Math.max(1, Math.ceil((block.untilMs - Date.now()) / 1000));
  res.setHeader('Retry-After', String(retryAfter));
  return new RateLimitExceededException(Math.ceil(block.resetAtMs / 1000), retryAfter);
}
