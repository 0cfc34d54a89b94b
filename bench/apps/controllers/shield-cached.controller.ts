import { Controller, Get } from '@nestjs/common';
import { CacheShared, CacheTtl } from 'nestjs-redis-shield';
import { handlerCalls } from './ping.controller.js';

/** `GET /ping` cached by nestjs-redis-shield: one shared entry, an hour (no round outlives it, so every timed request is a hit). */
@Controller()
export class ShieldCachedPingController {
  @Get('ping')
  @CacheTtl(3600)
  @CacheShared()
  ping(): { ok: boolean } {
    handlerCalls.count += 1;
    return { ok: true };
  }
}

/** `GET /ping` fresh for 1 ms, then stale for an hour: answered STALE while refreshed in the background. */
@Controller()
export class ShieldStalePingController {
  @Get('ping')
  @CacheTtl({ ttlSeconds: 0.001, staleWhileRevalidateSeconds: 3600 })
  @CacheShared()
  ping(): { ok: boolean } {
    handlerCalls.count += 1;
    return { ok: true };
  }
}
