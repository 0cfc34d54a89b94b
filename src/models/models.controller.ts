import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ApiRateLimited, CacheShared, CacheTtl, RATE_LIMIT_HEADERS } from 'nestjs-redis-shield';
import { ModelsService } from './models.service.js';

/** Public model list and details: one shared cache entry each (`models` TTL profile). */
@Controller('models')
@ApiTags('models')
@ApiRateLimited()
@ApiOkResponse({
  description: 'Shared cache entry (X-Cache-Status, ETag, Age)',
  headers: {
    ...RATE_LIMIT_HEADERS,
    'X-Cache-Status': { description: 'HIT, MISS or BYPASS', schema: { type: 'string' } },
  },
})
@ApiNotFoundResponse({ description: 'Unknown model (not cached)' })
@CacheTtl('models')
@CacheShared()
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  list() {
    const data = this.models.list();
    return { data, count: data.length, generated_at: new Date().toISOString() };
  }

  @Get(':id')
  one(@Param('id') id: string) {
    const model = this.models.find(id);
    if (!model) throw new NotFoundException(`Model '${id}' not found`);
    return { ...model, generated_at: new Date().toISOString() };
  }
}
