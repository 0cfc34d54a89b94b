import { Controller, Get } from '@nestjs/common';

/** Handler runs, read by the driver to check that cache variants answer from the cache. */
export const handlerCalls = { count: 0 };

/** The trivial JSON route every variant serves, without cache metadata. */
@Controller()
export class PingController {
  @Get('ping')
  ping(): { ok: boolean } {
    handlerCalls.count += 1;
    return { ok: true };
  }
}
