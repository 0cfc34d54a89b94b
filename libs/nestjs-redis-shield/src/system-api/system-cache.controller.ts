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
  UsePipes,
  ValidationPipe,
} from '@nestjs/common';
import { NoCache } from '../cache/cache.decorators.js';
import { CacheService } from '../cache/cache.service.js';
import { SystemAdminGuard } from './admin.guard.js';
import { EndpointPatternQuery, PathPatternQuery } from './system-api.dto.js';

/** Validation of the system API's inputs: 400 naming the parameter. */
export const systemValidation = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: false, transform: true });

/** A user id of 1-256 Unicode code points (after URL decoding), or 400 naming `user_id`. */
export function checkUserId(userId: string): string {
  const length = [...userId].length;
  if (length < 1 || length > 256) throw new BadRequestException('user_id must be 1-256 characters');
  return userId;
}

/** Cache statistics and invalidation (SPEC §7); admin only, never cached. */
@Controller('system/cache')
@NoCache()
@UseGuards(SystemAdminGuard)
@UsePipes(systemValidation)
export class SystemCacheController {
  constructor(private readonly cache: CacheService) {}

  @Get('stats')
  async stats() {
    const stats = await this.cache.getStats();
    return {
      hits: stats.hits,
      misses: stats.misses,
      hit_ratio: stats.hitRatio,
      entries: stats.entries,
      memory_used_bytes: stats.memoryUsedBytes,
      ttl_seconds: stats.ttlSeconds,
      generated_at: new Date().toISOString(),
    };
  }

  @Delete('clear')
  async clear() {
    return { deleted: await this.cache.clearAll() };
  }

  @Delete('user/:user_id')
  async clearUser(@Param('user_id') userId: string) {
    return { deleted: await this.cache.clearUser(checkUserId(userId)) };
  }

  @Delete('endpoint')
  async clearEndpoint(@Query() query: EndpointPatternQuery) {
    return { deleted: await this.cache.clearEndpoint(query.endpoint_pattern) };
  }

  @Post('invalidate')
  @HttpCode(200)
  async invalidate(@Query() query: PathPatternQuery) {
    return { deleted: await this.cache.invalidatePattern(query.pattern) };
  }
}
