import { Controller, Get } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ManualClock } from '../../core/clock.js';
import { shieldErrorCode } from '../../core/errors.js';
import { buildRegistry } from '../engine/rate-limit.options.js';
import { MemoryRateLimitStore } from '../store/memory.store.js';
import { RateLimit, RateLimitCost } from './rate-limit.decorators.js';
import {
  CostExceedsLimitException,
  RateLimitExceededException,
  RateLimitUnavailableException,
} from './rate-limit.exceptions.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitService } from './rate-limit.service.js';
import { RateLimitTestingModule } from './rate-limit-testing.module.js';
import { RateLimiter } from './rate-limiter.js';

const TIER = { limit: 5, windowMs: 60_000 };

describe('rate-limit HTTP exceptions', () => {
  it('carry their codes, not in the body, which stays as documented', () => {
    const exceeded = new RateLimitExceededException(1_700_000_060, 60);
    expect(shieldErrorCode(exceeded)).toBe('SHIELD_E023');
    expect(exceeded.getResponse()).toEqual({
      error: 'Rate limit exceeded',
      message: 'Too many requests. Please try again later.',
      reset_time: 1_700_000_060,
      retry_after: 60,
    });

    const cost = new CostExceedsLimitException({ policy: 'strict', tier: 'minute' }, 3, 2);
    expect(shieldErrorCode(cost)).toBe('SHIELD_E024');
    expect(cost.getResponse()).toEqual({
      error: 'Rate limit exceeded',
      message:
        'This request costs 3 units, more than the 2 per window of tier "minute" of policy "strict": it can never be admitted.',
      cost: 3,
      limit: 2,
    });

    const cause = new Error('down');
    const unavailable = new RateLimitUnavailableException({ cause });
    expect(shieldErrorCode(unavailable)).toBe('SHIELD_E025');
    expect(unavailable.getStatus()).toBe(503);
    expect(unavailable.cause).toBe(cause);
    expect(unavailable.getResponse()).toEqual({
      error: 'Service unavailable',
      message: 'Rate limiting is temporarily unavailable. Please try again later.',
    });
  });
});

describe('RateLimitService argument errors', () => {
  const service = new RateLimitService(
    buildRegistry({ defaultTiers: { minute: TIER } }),
    new RateLimiter({ fallback: new MemoryRateLimitStore({ clock: new ManualClock(0) }) }),
  );
  afterAll(() => service['limiter'].close());

  it.each([
    [() => service.consume('user:1', 'default', 0), 'cost must be a positive integer, got 0'],
    [() => service.consume('user:1', 'default', 1.5), 'cost must be a positive integer, got 1.5'],
    [
      () => service.consume('user:1', 'default', 1, { policyCosts: { default: -1 } }),
      'policyCosts.default must be a non-negative integer, got -1',
    ],
  ])('refuses a bad cost with a RangeError carrying SHIELD_E009 (%#)', async (call, message) => {
    const error: unknown = await call().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(message);
    expect(shieldErrorCode(error)).toBe('SHIELD_E009');
  });

  it('refuses an unknown policy with SHIELD_E004, listing the configured ones', async () => {
    const error: unknown = await service.consume('user:1', 'nope').catch((caught: unknown) => caught);
    expect((error as Error).message).toBe(
      "nestjs-redis-shield: unknown rate-limit policy 'nope' (configured: default)",
    );
    expect(shieldErrorCode(error)).toBe('SHIELD_E004');
  });
});

describe('RateLimitGuard start-up errors', () => {
  it("refuses a @RateLimitCost naming a policy the route is not limited by, with SHIELD_E026 and the route's policies", async () => {
    @Controller('completions')
    class Completions {
      @Get()
      @RateLimit(['default'])
      @RateLimitCost(10, { policies: ['tokens'] })
      create() {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        RateLimitTestingModule.forRoot({
          guard: false,
          defaultTiers: { minute: TIER },
          policies: { tokens: { tiers: { minute: TIER } } },
        }),
      ],
      controllers: [Completions],
    }).compile();
    let error: unknown;
    try {
      moduleRef.get(RateLimitGuard).onModuleInit();
    } catch (caught) {
      error = caught;
    }
    expect((error as Error).message).toBe(
      'nestjs-redis-shield: invalid option @RateLimitCost policies on Completions.create="tokens": ' +
        "expected one of the route's policies (default)",
    );
    expect(shieldErrorCode(error)).toBe('SHIELD_E026');
    moduleRef.get(RateLimiter).close();
    await moduleRef.close();
  });
});
