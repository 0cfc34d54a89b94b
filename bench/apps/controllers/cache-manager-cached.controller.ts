import { CacheTTL } from '@nestjs/cache-manager';
import { Controller, Get } from '@nestjs/common';
import { handlerCalls } from './ping.controller.js';

/** `GET /ping` cached by @nestjs/cache-manager's CacheInterceptor (key: the URL), an hour. */
@Controller()
export class CacheManagerCachedPingController {
  @Get('ping')
  @CacheTTL(3_600_000)
  ping(): { ok: boolean } {
    handlerCalls.count += 1;
    return { ok: true };
  }
}
