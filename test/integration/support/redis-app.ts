import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RedisConnection, RedisModule, type RedisModuleOptions } from 'nestjs-redis-shield';
import { waitFor } from '../../support/wait-for.js';

/** A Nest app holding one ready Redis connection, plus any other modules a test needs. */
export interface RedisApp {
  app: INestApplication;
  connection: RedisConnection;
}

/** Boots `RedisModule.forRoot(redis)` (and `imports`) and waits until the connection is ready. */
export async function startRedisApp(redis: RedisModuleOptions, imports: unknown[] = []): Promise<RedisApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisModule.forRoot(redis), ...(imports as never[])],
  }).compile();
  const app = await moduleRef.createNestApplication({ logger: false }).init();
  const connection = app.get(RedisConnection);
  await waitFor(() => connection.state === 'ready', 5000, 'the Redis connection');
  return { app, connection };
}
