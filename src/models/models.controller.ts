import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { CacheShared, CacheTtl } from 'nestjs-redis-shield';
import { ModelsService } from './models.service.js';

/** Public model list and details: one shared cache entry each (`models` TTL profile). */
@Controller('models')
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
