import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Redis } from 'ioredis';
import type { BenchAppConfig } from '../config.js';
import type { BenchPart } from './part.js';

const CLIENT = Symbol('ioredis client of the floor guard');

/**
 * What a limit check of three tiers does in Redis at the least: read the client's hash,
 * write it back, renew its expiry. No arithmetic, no reply to decode beyond one integer.
 */
const FLOOR_LUA = `
redis.call('HMGET', KEYS[1], 'a', 'b', 'c')
redis.call('HSET', KEYS[1], 'a', 1, 'b', 2, 'c', 3)
redis.call('PEXPIRE', KEYS[1], 120000)
return 1`;

type FloorClient = Redis & { floor(key: string): Promise<number> };

/** Sends one script call per request, keyed by the client's address, awaits it, and lets the request through. */
@Injectable()
class FloorGuard implements CanActivate, OnApplicationShutdown {
  constructor(@Inject(CLIENT) private readonly client: FloorClient) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { ip } = context.switchToHttp().getRequest<{ ip?: string }>();
    await this.client.floor(`floor:{${ip ?? 'unknown'}}`);
    return true;
  }

  onApplicationShutdown(): void {
    this.client.disconnect();
  }
}

/**
 * The floor of any Redis rate limiter built as a Nest guard: one `EVALSHA` per request of
 * a script of three Redis commands, through an ioredis client with its defaults, and nothing
 * else (no decision, no headers). Run in the same rounds as the limiters, its `× bare` is
 * what one round trip costs on the machine of that run, the bound for target 20.2.
 */
export function floorPart(config: BenchAppConfig): BenchPart {
  const client = new Redis(config.redisUrl, { enableAutoPipelining: config.autoPipelining ?? false });
  client.defineCommand('floor', { numberOfKeys: 1, lua: FLOOR_LUA });
  return {
    providers: [
      { provide: CLIENT, useValue: client },
      { provide: APP_GUARD, useClass: FloorGuard },
    ],
  };
}
