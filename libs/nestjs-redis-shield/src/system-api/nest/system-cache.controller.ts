import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  UseGuards,
  UseFilters,
  UsePipes,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { messages, withCode } from '../../core/errors.js';
import { NoCache } from '../../cache/nest/cache.decorators.js';
import { CacheService } from '../../cache/nest/cache.service.js';
import { InvalidPatternError } from '../../cache/engine/pattern.js';
import { SystemAdminGuard } from './admin.guard.js';
import { RedisUnavailableFilter } from './redis-unavailable.filter.js';
import { ApiAdminOperation, ApiBadParameter } from './api-docs.decorators.js';
import { checkUserId, EndpointPatternQuery, PathPatternQuery, systemValidation } from './system-api.dto.js';
import { CacheStatsResponse, DeletedResponse } from './system-api.responses.js';

/** What the OpenAPI document says of both pattern parameters. */
const PATTERN_DESCRIPTION =
  'Plain text matches by substring; `*` matches any run (then the whole text must match). ' +
  'At most `maxPatternLength` characters (default 256) and `maxPatternStars` `*` (default 16), ' +
  'options of ResponseCacheModule.forRoot; over either, 400 naming the parameter and the cap';

/**
 * Runs an invalidation; a pattern the cache's caps refuse (`InvalidPatternError`, thrown
 * before Redis is touched) becomes a 400 naming the query parameter and the cap.
 */
async function deleting(parameter: string, run: () => Promise<number>): Promise<{ deleted: number }> {
  try {
    return { deleted: await run() };
  } catch (error) {
    if (error instanceof InvalidPatternError) {
      throw withCode(
        new BadRequestException(messages.invalidPatternParameter(parameter, error.message)),
        'invalidPatternParameter',
      );
    }
    throw error;
  }
}

/** Cache statistics and invalidation; admin only, never cached. */
@Controller('system/cache')
@ApiTags('system')
@ApiAdminOperation()
@NoCache()
@UseGuards(SystemAdminGuard)
@UsePipes(systemValidation)
@UseFilters(RedisUnavailableFilter)
export class SystemCacheController {
  constructor(private readonly cache: CacheService) {}

  @Get('stats')
  @ApiOperation({ summary: 'Cache statistics over all instances' })
  @ApiOkResponse({ type: CacheStatsResponse })
  async stats(): Promise<CacheStatsResponse> {
    const stats = await this.cache.getStats();
    return {
      hits: stats.hits,
      l1_hits: stats.l1Hits,
      l2_hits: stats.l2Hits,
      misses: stats.misses,
      hit_ratio: stats.hitRatio,
      stale: stats.stale,
      lease_waits: stats.leaseWaits,
      refreshes: stats.refreshes,
      bus_lag_ms: stats.busLagMs,
      entries: stats.entries,
      memory_used_bytes: stats.memoryUsedBytes,
      ttl_seconds: stats.ttlSeconds,
      generated_at: new Date().toISOString(),
    };
  }

  @Delete('clear')
  @ApiOperation({ summary: 'Remove every response entry of this library (nothing else in Redis)' })
  @ApiOkResponse({ type: DeletedResponse })
  async clear() {
    return { deleted: await this.cache.clearAll() };
  }

  @Delete('user/:user_id')
  @ApiOperation({ summary: "Remove one user's per-user entries" })
  @ApiParam({ name: 'user_id', description: '1-256 Unicode code points after URL decoding' })
  @ApiOkResponse({ type: DeletedResponse })
  @ApiBadParameter()
  async clearUser(@Param('user_id') userId: string) {
    return { deleted: await this.cache.clearUser(checkUserId(userId)) };
  }

  @Delete('endpoint')
  @ApiOperation({ summary: 'Remove entries whose route template matches (`/api/v1/models/:id`)' })
  @ApiQuery({ name: 'endpoint_pattern', description: PATTERN_DESCRIPTION })
  @ApiOkResponse({ type: DeletedResponse })
  @ApiBadParameter()
  clearEndpoint(@Query() query: EndpointPatternQuery) {
    return deleting('endpoint_pattern', () => this.cache.clearEndpoint(query.endpoint_pattern));
  }

  @Post('invalidate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove entries whose concrete request path matches (`/api/v1/models/gpt-4`)' })
  @ApiQuery({ name: 'pattern', description: PATTERN_DESCRIPTION })
  @ApiOkResponse({ type: DeletedResponse })
  @ApiBadParameter()
  invalidate(@Query() query: PathPatternQuery) {
    return deleting('pattern', () => this.cache.invalidatePattern(query.pattern));
  }
}
