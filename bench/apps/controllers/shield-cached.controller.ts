import { Controller, Get } from '@nestjs/common';
import { CacheShared, CacheTtl } from 'nestjs-redis-shield';
import { handlerCalls } from './ping.controller.js';

/** `GET /ping` cached by nestjs-redis-shield: one shared entry, 60 s. */
@Controller()
export class ShieldCachedPingController {
  @Get('ping')
  @CacheTtl(60)
  @CacheShared()
  ping(): { ok: boolean } {
    handlerCalls.count += 1;
    return { ok: true };
  }
}
