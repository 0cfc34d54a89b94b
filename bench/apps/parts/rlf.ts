import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Request } from 'express';
import { Redis } from 'ioredis';
import { RateLimiterRedis, type RateLimiterRes, RateLimiterUnion } from 'rate-limiter-flexible';
import type { BenchAppConfig } from '../config.js';
import type { BenchPart } from './part.js';

const UNION = Symbol('rate-limiter-flexible union');
const CLIENT = Symbol('ioredis client of rate-limiter-flexible');
const LIMITS = Symbol('limit of each tier, by key prefix');

/** The response as the guard sees it: Express's (`setHeader`) or Fastify's reply (`header`). */
interface GuardResponse {
  setHeader?(name: string, value: string): unknown;
  header?(name: string, value: string): unknown;
}

/** Sets a response header on either adapter (a Fastify reply has no `setHeader`). */
function setHeader(response: GuardResponse, name: string, value: string): void {
  if (response.setHeader) response.setHeader(name, value);
  else response.header?.(name, value);
}

/**
 * rate-limiter-flexible as its docs combine several limits: one RateLimiterRedis per tier
 * in a RateLimiterUnion (all consumed in parallel), behind a small global guard keyed by
 * `req.ip`, setting the X-RateLimit-* headers of the most restrictive tier as its Express
 * example does, and 429 with Retry-After on a rejection.
 */
@Injectable()
export class RateLimiterFlexibleGuard implements CanActivate, OnApplicationShutdown {
  constructor(
    @Inject(UNION) private readonly union: RateLimiterUnion,
    @Inject(CLIENT) private readonly client: Redis,
    @Inject(LIMITS) private readonly limits: Record<string, number>,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<GuardResponse>();
    try {
      const results = (await this.union.consume(request.ip ?? 'unknown')) as Record<string, RateLimiterRes>;
      this.setHeaders(response, results);
      return true;
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      const results = rejection as Record<string, RateLimiterRes>;
      const wait = Math.max(...Object.values(results).map((result) => result.msBeforeNext));
      setHeader(response, 'Retry-After', String(Math.max(1, Math.ceil(wait / 1000))));
      this.setHeaders(response, results);
      throw new HttpException('Too Many Requests', HttpStatus.TOO_MANY_REQUESTS);
    }
  }

  onApplicationShutdown(): void {
    this.client.disconnect();
  }

  /** The X-RateLimit-* headers of the tier with the fewest points left. */
  private setHeaders(response: GuardResponse, results: Record<string, RateLimiterRes>): void {
    let tightest: [string, RateLimiterRes] | undefined;
    for (const entry of Object.entries(results)) {
      if (!tightest || entry[1].remainingPoints < tightest[1].remainingPoints) tightest = entry;
    }
    if (!tightest) return;
    const [tier, result] = tightest;
    setHeader(response, 'X-RateLimit-Limit', String(this.limits[tier]));
    setHeader(response, 'X-RateLimit-Remaining', String(result.remainingPoints));
    setHeader(response, 'X-RateLimit-Reset', String(Math.ceil((Date.now() + result.msBeforeNext) / 1000)));
  }
}

export function rlfPart(config: BenchAppConfig): BenchPart {
  const client = new Redis(config.redisUrl);
  const limiters = config.tiers.map(
    (tier) =>
      new RateLimiterRedis({
        storeClient: client,
        keyPrefix: tier.name,
        points: tier.limit,
        duration: tier.windowMs / 1000,
        // Its own local block: a key over `points` is answered from memory until its reset.
        ...(config.rlfInMemoryBlock ? { inMemoryBlockOnConsumed: tier.limit + 1 } : {}),
      }),
  );
  return {
    providers: [
      { provide: CLIENT, useValue: client },
      { provide: UNION, useValue: new RateLimiterUnion(...limiters) },
      { provide: LIMITS, useValue: Object.fromEntries(config.tiers.map((tier) => [tier.name, tier.limit])) },
      { provide: APP_GUARD, useClass: RateLimiterFlexibleGuard },
    ],
  };
}
