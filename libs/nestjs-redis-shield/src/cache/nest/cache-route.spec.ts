import { Controller, Get, type ExecutionContext, Res, Sse } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { shieldErrorCode } from '../../core/errors.js';
import { resolveCacheOptions } from '../engine/cache.options.js';
import { CacheShared, CacheTtl, NoCache } from './cache.decorators.js';
import { resolveCacheRoute } from './cache-route.js';

const options = resolveCacheOptions({ ttlProfiles: { models: 60 } });

@Controller('items')
class ItemsController {
  @Get('a') @CacheTtl('models') profiled() {}
  @Get('b') @CacheTtl(1.5) @CacheShared() seconds() {}
  @Get('c') plain() {}
  @Get('d') @CacheTtl('modles') misspelt() {}
  @Get('e') @CacheTtl(0) zero() {}
  @Get('f') @CacheTtl(60) @NoCache() off() {}
  @Get('g') @CacheTtl(60) raw(@Res() _response: unknown) {}
  @Sse('h') @CacheTtl(60) events() {}
}

/** The route of one handler of {@link ItemsController}. */
function routeOf(handler: keyof ItemsController, resolved = options) {
  const context = {
    getHandler: () => ItemsController.prototype[handler],
    getClass: () => ItemsController,
  } as unknown as ExecutionContext;
  return resolveCacheRoute(context, new Reflector(), resolved);
}

/** The error `run` throws. */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('resolveCacheRoute', () => {
  it('takes the TTL from a profile or from seconds, in ms', () => {
    expect(routeOf('profiled')).toMatchObject({ id: 'ItemsController.profiled', ttlMs: 60_000, shared: false });
    expect(routeOf('seconds')).toMatchObject({ ttlMs: 1500, shared: true });
  });

  it('leaves a route without @CacheTtl, or with @NoCache, uncacheable (unless cacheAllGet)', () => {
    expect(routeOf('plain').ttlMs).toBeUndefined();
    expect(routeOf('off').ttlMs).toBeUndefined();
    expect(routeOf('plain', resolveCacheOptions({ cacheAllGet: true })).ttlMs).toBe(300_000);
  });

  it('notes why @Res() and SSE routes are never stored', () => {
    expect(routeOf('raw').bypassReason).toBe('@Res() handlers write the response themselves');
    expect(routeOf('events').bypassReason).toBe('server-sent events are a stream');
  });

  it.each([
    ['misspelt', '@CacheTtl("modles")'],
    ['zero', '@CacheTtl(0)'],
  ] as const)('refuses %s with SHIELD_E018, naming the route and the profiles', (handler, decorator) => {
    const error = thrown(() => routeOf(handler));
    expect(error.message).toBe(
      `nestjs-redis-shield: ${decorator} on ItemsController.${handler}: unknown TTL profile or non-positive seconds; ` +
        'expected a positive number of seconds or one of the ttlProfiles: default, models',
    );
    expect(shieldErrorCode(error)).toBe('SHIELD_E018');
  });
});
