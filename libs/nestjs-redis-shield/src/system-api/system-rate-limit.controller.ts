import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  Optional,
  Param,
  Query,
  UseGuards,
  UsePipes,
  type ExecutionContext,
} from '@nestjs/common';
import { createParamDecorator } from '@nestjs/common';
import { isIP } from 'node:net';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { NoCache } from '../cache/cache.decorators.js';
import { normalizeIp, userClientId } from '../rate-limit/client-id.js';
import { SkipRateLimit } from '../rate-limit/rate-limit.decorator.js';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard.js';
import { waitSeconds } from '../rate-limit/rate-limit-headers.js';
import { RateLimitService } from '../rate-limit/rate-limit.service.js';
import { ViolationStream } from '../rate-limit/violations/violation-stream.js';
import { SystemAdminGuard } from './admin.guard.js';
import { ApiAdminOperation, ApiBadParameter } from './api-docs.decorators.js';
import { checkUserId, systemValidation } from './system-cache.controller.js';
import { parseSince, ViolationsQuery } from './system-api.dto.js';
import { RateLimitStatusResponse, ResetResponse, ViolationsResponse } from './system-api.responses.js';

/** The execution context itself, so the status endpoint can ask the guard who is calling. */
const Context = createParamDecorator((_data: unknown, context: ExecutionContext) => context);

/** Rate-limit status for any caller; client reset and recent violations for admins (SPEC §7); never cached. */
@Controller('system/rate-limit')
@ApiTags('system')
@NoCache()
@UsePipes(systemValidation)
export class SystemRateLimitController {
  constructor(
    private readonly limits: RateLimitService,
    private readonly guard: RateLimitGuard,
    /** Absent with `RateLimitTestingModule` (no Redis): the list is then empty. */
    @Optional() private readonly violations?: ViolationStream,
  ) {}

  /** The caller's own tiers; consumes nothing, 200 even when over the limit. */
  @Get('status')
  @SkipRateLimit()
  @ApiOperation({ summary: "The caller's own tiers (any client, anonymous too); counts nothing" })
  @ApiOkResponse({ type: RateLimitStatusResponse })
  async status(@Context() context: ExecutionContext) {
    const { clientId, policies } = await this.guard.identify(context);
    const result = await this.limits.status(clientId, policies);
    return {
      client: clientId.slice(0, clientId.indexOf(':')),
      tiers: result.tiers
        .filter((tier) => !tier.shadow)
        .map((tier) => ({
          policy: tier.policy,
          tier: tier.tier,
          limit: tier.limit,
          remaining: tier.remaining,
          window_seconds: Math.ceil(tier.windowMs / 1000),
          reset: Math.ceil((result.nowMs + tier.resetMs) / 1000),
          reset_in_seconds: tier.resetMs > 0 ? waitSeconds(tier.resetMs) : 0,
        })),
      generated_at: new Date().toISOString(),
    };
  }

  /**
   * Gives a client its full quota back in every bucket it has: every configured policy,
   * plan variant and route's inline policy.
   */
  @Delete('clients/:client')
  @UseGuards(SystemAdminGuard)
  @ApiAdminOperation()
  @ApiOperation({ summary: "Reset a client's buckets in every policy" })
  @ApiParam({
    name: 'client',
    description: '`user:<id>` or `ip:<address>`; without a prefix, an IP address is an IP and anything else a user id',
  })
  @ApiOkResponse({ type: ResetResponse })
  @ApiBadParameter()
  async reset(@Param('client') client: string) {
    await this.limits.reset(this.clientIdOf(client));
    return { reset: true };
  }

  /** The client id an admin named: `user:<id>` and `ip:<address>` say which; a bare address is an IP. */
  private clientIdOf(client: string): string {
    if (client.startsWith('user:')) return userClientId(checkUserId(client.slice('user:'.length)));
    if (client.startsWith('ip:')) {
      const address = client.slice('ip:'.length);
      if (normalizeIp(address) === undefined) throw new BadRequestException('client: ip:<address> needs an IP address');
      return this.guard.clientIdOfAddress(address);
    }
    return isIP(client) ? this.guard.clientIdOfAddress(client) : userClientId(checkUserId(client));
  }

  /** Recent violations from the capped stream (one entry per client, policy, tier, route and interval, with its count), newest first. */
  @Get('violations')
  @UseGuards(SystemAdminGuard)
  @ApiAdminOperation()
  @ApiOperation({ summary: 'Recent rate-limit violations (all instances), newest first' })
  @ApiOkResponse({ type: ViolationsResponse })
  @ApiBadParameter()
  async recent(@Query() query: ViolationsQuery) {
    const found = this.violations
      ? await this.violations.recent({
          sinceMs: query.since === undefined ? 0 : parseSince(query.since),
          limit: query.limit ?? 100,
        })
      : [];
    return {
      violations: found.map((violation) => ({
        at: new Date(violation.atMs).toISOString(),
        timestamp: violation.atMs,
        first_at: new Date(violation.firstAtMs).toISOString(),
        first_timestamp: violation.firstAtMs,
        count: violation.count,
        client: violation.client,
        policy: violation.policy,
        tier: violation.tier,
        route: violation.route,
        shadow: violation.shadow,
      })),
      generated_at: new Date().toISOString(),
    };
  }
}
