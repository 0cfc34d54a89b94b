import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  Inject,
  Optional,
  Param,
  Query,
  UseGuards,
  UseFilters,
  UsePipes,
  type ExecutionContext,
} from '@nestjs/common';
import { createParamDecorator } from '@nestjs/common';
import { isIP } from 'node:net';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { NoCache } from '../../cache/nest/cache.decorators.js';
import { messages, withCode } from '../../core/errors.js';
import { type HttpExchange, httpExchange } from '../../core/http/http-facade.js';
import { normalizeIp, userClientId } from '../../rate-limit/engine/client-id.js';
import { PolicyRegistry } from '../../rate-limit/engine/policy.js';
import { waitSeconds } from '../../rate-limit/engine/rate-limit-headers.js';
import type { RateLimitPolicy } from '../../rate-limit/engine/rate-limit.types.js';
import { ClientIdentity } from '../../rate-limit/nest/client-identity.js';
import { SkipRateLimit } from '../../rate-limit/nest/rate-limit.decorators.js';
import {
  prefersProblem,
  rejectionOf,
  RateLimitUnavailableException,
} from '../../rate-limit/nest/rate-limit.exceptions.js';
import { RateLimitService } from '../../rate-limit/nest/rate-limit.service.js';
import { HashedResetUnsupportedError, RateLimiter } from '../../rate-limit/nest/rate-limiter.js';
import { CLIENT_HASH } from '../../redis/engine/key-builder.js';
import { ViolationStream } from '../../rate-limit/store/violation-stream.js';
import { SystemAdminGuard } from './admin.guard.js';
import { RedisUnavailableFilter } from './redis-unavailable.filter.js';
import { ApiAdminOperation, ApiBadParameter } from './api-docs.decorators.js';
import { checkUserId, systemValidation } from './system-api.dto.js';
import { parseSince, ViolationsQuery } from './system-api.dto.js';
import { DEFAULT_STATUS_PER_MINUTE, SYSTEM_API_OPTIONS, type SystemApiModuleOptions } from './system-api.options.js';
import {
  RateLimitExceededResponse,
  RateLimitStatusResponse,
  ResetResponse,
  ViolationsResponse,
} from './system-api.responses.js';

/** The name of the status endpoint's own policy: the name `@RateLimit({...})` would give it. */
const STATUS_POLICY = 'SystemRateLimitController.status';

/** The execution context itself, so the status endpoint can ask who is calling. */
const Context = createParamDecorator((_data: unknown, context: ExecutionContext) => context);

/** Rate-limit status for any caller; client reset and recent violations for admins; never cached. */
@Controller('system/rate-limit')
@ApiTags('system')
@NoCache()
@UsePipes(systemValidation)
@UseFilters(RedisUnavailableFilter)
export class SystemRateLimitController {
  /** The status endpoint's own policy (`statusLimit`), counted apart from every other. */
  private readonly statusPolicies: readonly RateLimitPolicy[];

  constructor(
    private readonly limits: RateLimitService,
    private readonly identity: ClientIdentity,
    private readonly limiter: RateLimiter,
    registry: PolicyRegistry,
    @Inject(SYSTEM_API_OPTIONS) options: SystemApiModuleOptions,
    /** Absent with `RateLimitTestingModule` (no Redis): the list is then empty. */
    @Optional() private readonly violations?: ViolationStream,
  ) {
    const limit = options.statusLimit?.perMinute ?? DEFAULT_STATUS_PER_MINUTE;
    this.statusPolicies = [registry.build(STATUS_POLICY, { tiers: { minute: { limit, windowMs: 60_000 } } })];
    // Known to the registry, so a client's reset gives it back its status calls too.
    registry.addRoutePolicies(this.statusPolicies);
  }

  /**
   * The caller's own tiers; consumes nothing of them, 200 even when over their limit. Limited
   * by a policy of its own (`statusLimit`): each call is a script, so it must not be free.
   */
  @Get('status')
  @SkipRateLimit()
  @ApiOperation({
    summary: "The caller's own tiers (any client, anonymous too); counts nothing in them",
    description:
      'Limited by its own policy (statusLimit, default 60 calls per minute per client), not by the default one.',
  })
  @ApiOkResponse({ type: RateLimitStatusResponse })
  @ApiTooManyRequestsResponse({
    description: "Over the status endpoint's own limit",
    type: RateLimitExceededResponse,
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  })
  async status(@Context() context: ExecutionContext) {
    const exchange = httpExchange(context);
    const { clientId, policies } = await this.identity.identify(context);
    await this.countStatusCall(context, exchange, clientId);
    // Redis failing: this instance's fallback standing, flagged degraded; never a 5xx.
    const { result, degraded } = await this.limiter.status({ request: exchange.raw, clientId, policies });
    return {
      client: clientId.slice(0, clientId.indexOf(':')),
      degraded,
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
   * Counts one status call in the endpoint's own policy through the guard's limiter (the
   * local block cache answers a client over it without Redis; Redis down: the module's fail
   * mode; metrics and the violation stream see it like any limited route's), exempting what
   * the guard exempts; throws the guard's 429 when over.
   */
  private async countStatusCall(context: ExecutionContext, exchange: HttpExchange, clientId: string): Promise<void> {
    const exempt = this.identity.exempt(context, exchange);
    if (exempt === true || (exempt !== false && (await exempt))) return;
    let decision;
    try {
      decision = await this.limiter.consume({
        request: exchange.raw,
        route: exchange.routeTemplate,
        clientId,
        policies: this.statusPolicies,
        cost: 1,
      });
    } catch (error) {
      // Fail mode closed and Redis down: a status read is still answered (from the fallback).
      if (error instanceof RateLimitUnavailableException) return;
      throw error;
    }
    if (!decision.result.allowed)
      throw rejectionOf(decision.result, 1, (name, value) => exchange.setHeader(name, value), {
        problem: prefersProblem(exchange.header('accept')),
      });
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
    description:
      '`user:<id>`, `ip:<address>`, or `hmac:<22 characters>` (the HMAC a violation or the dashboard shows after its kind); ' +
      'without a prefix, an IP address is an IP and anything else a user id',
  })
  @ApiOkResponse({ type: ResetResponse })
  @ApiBadParameter()
  async reset(@Param('client') client: string) {
    if (client.startsWith('hmac:')) {
      await this.resetHashed(client.slice('hmac:'.length));
    } else {
      await this.limits.reset(this.clientIdOf(client));
    }
    return { reset: true };
  }

  /**
   * Resets the client an admin knows only by its HMAC (the violations list and the dashboard
   * show `ip:<hmac>`, never the raw id); a malformed HMAC, or a custom store that keys
   * clients its own way, is a 400.
   */
  private async resetHashed(hash: string): Promise<void> {
    if (!CLIENT_HASH.test(hash)) {
      throw withCode(new BadRequestException(messages.invalidClientHash()), 'invalidClientHash');
    }
    try {
      await this.limits.resetHashed(hash);
    } catch (error) {
      if (!(error instanceof HashedResetUnsupportedError)) throw error;
      throw withCode(new BadRequestException(messages.hashedResetUnsupported()), 'hashedResetUnsupported');
    }
  }

  /** The client id an admin named: `user:<id>` and `ip:<address>` say which; a bare address is an IP. */
  private clientIdOf(client: string): string {
    if (client.startsWith('user:')) return userClientId(checkUserId(client.slice('user:'.length)));
    if (client.startsWith('ip:')) {
      const address = client.slice('ip:'.length);
      if (normalizeIp(address) === undefined) {
        throw withCode(new BadRequestException(messages.invalidClientAddress()), 'invalidClientAddress');
      }
      return this.identity.ofAddress(address);
    }
    return isIP(client) ? this.identity.ofAddress(client) : userClientId(checkUserId(client));
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
