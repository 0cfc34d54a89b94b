import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { request as httpRequest } from 'node:http';
import { CacheShared, CacheTtl, RedisModule, ResponseCacheModule } from 'nestjs-redis-shield';
import request from 'supertest';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { waitFor } from './support/wait-for.js';

// Clients that go away before their response is sent: while their request waited on
// Redis, or while the handler ran. Their response's `close` has fired by the time the
// cache looks at it, and must not leave anything waiting for it: a background refresh
// that never starts (and keeps every later one from starting), followers and a lease
// held until the follower timeout.

type Adapter = 'express' | 'fastify';

const calls: Record<string, number> = {};
const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
let gate: Promise<void> = Promise.resolve();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Controller('a')
class AbortController_ {
  @Get('swr')
  @CacheTtl({ ttlSeconds: 1, staleWhileRevalidateSeconds: 60 })
  @CacheShared()
  swr() {
    return { n: count('swr') };
  }

  @Get('slow')
  @CacheTtl(60)
  @CacheShared()
  async slow() {
    const n = count('slow');
    await gate;
    return { n };
  }
}

async function startApp(adapter: Adapter, redis: RedisServer): Promise<INestApplication> {
  @Module({
    imports: [
      // A Redis call may wait 2 s: long enough for a client to give up on a stalled one.
      RedisModule.forRoot({ url: redis.url, hashSecret: 'aborts-e2e', commandTimeoutMs: 2000 }),
      ResponseCacheModule.forRoot({ followerTimeoutMs: 10_000 }),
    ],
    controllers: [AbortController_],
  })
  class AbortsModule {}
  const app = await NestFactory.create(
    AbortsModule,
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    {
      logger: false,
      abortOnError: false,
    },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

/** A GET the test abandons: its socket is destroyed when `abandon` is called. */
async function abandonable(app: INestApplication, path: string) {
  const url = new URL(path, await app.getUrl());
  const client = httpRequest(url, { agent: false });
  client.on('error', () => undefined);
  client.end();
  return { abandon: () => client.destroy() };
}

const status = (response: request.Response) => response.headers['x-cache-status'] as string;

describe.each<Adapter>(['express', 'fastify'])('clients that go away, on %s', (adapter) => {
  let redis: RedisServer;
  let apps: INestApplication[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  beforeEach(async () => {
    for (const key of Object.keys(calls)) delete calls[key];
    gate = Promise.resolve();
    await redis.command('FLUSHALL'); // this file's own server
  });

  afterEach(async () => {
    await Promise.all(apps.map((app) => app.close()));
    apps = [];
  });

  it('a stale entry whose serve was abandoned during its Redis read is still refreshed by the next request', async () => {
    const app = await startApp(adapter, redis);
    apps = [app];
    expect(status(await request(await app.getUrl()).get('/a/swr'))).toBe('MISS');
    await app.get(ResponseCacheWriter).flush();
    await sleep(1100); // stale now
    await redis.stall();
    try {
      const gone = await abandonable(app, '/a/swr');
      await sleep(150); // the read is on the wire
      gone.abandon();
      await sleep(150); // the server saw the connection close
    } finally {
      await redis.resume();
    }
    await sleep(100); // the read answered: the stale entry was served to nobody
    const next = await request(await app.getUrl()).get('/a/swr');
    expect([status(next), next.text]).toEqual(['STALE', '{"n":1}']);
    await app.get(ResponseCacheWriter).flush();
    expect(calls.swr).toBe(2); // refreshed after the next request's answer
    const refreshed = await request(await app.getUrl()).get('/a/swr');
    expect([status(refreshed), refreshed.text]).toEqual(['HIT', '{"n":2}']);
  });

  /** Starts a miss on `app` whose client goes away while the handler runs; returns once the handler returned. */
  async function abandonedMiss(app: INestApplication, whileRunning: () => Promise<void> = async () => undefined) {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const leader = await abandonable(app, '/a/slow');
    await waitFor(() => calls.slow === 1, 3000, "the leader's handler");
    await whileRunning();
    leader.abandon();
    await sleep(100); // the server saw the connection close
    open(); // the handler returns for a client that is gone: nothing is stored
    await sleep(50);
  }

  it('a miss whose client went away while the handler ran releases its followers at once', async () => {
    const app = await startApp(adapter, redis);
    apps = [app];
    let followed!: Promise<request.Response>;
    await abandonedMiss(app, async () => {
      // A follower on the same instance waits for the leader.
      followed = request(await app.getUrl())
        .get('/a/slow')
        .then((response) => response);
      await sleep(100);
    });
    const startedAt = performance.now();
    const answer = await followed;
    // It ran the handler itself at once, not after the follower timeout (10 s).
    expect([answer.status, status(answer), answer.text]).toEqual([200, 'MISS', '{"n":2}']);
    expect(performance.now() - startedAt).toBeLessThan(3000);
  });

  it('a miss whose client went away while the handler ran gives its lease back at once', async () => {
    const [a, b] = await Promise.all([startApp(adapter, redis), startApp(adapter, redis)]);
    apps = [a, b];
    await abandonedMiss(a);
    await a.get(ResponseCacheWriter).flush();
    expect(await redis.command('KEYS', 'cache:lease:*')).toEqual([]);
    // The other instance finds no lease to wait on (10 s): it leads.
    const startedAt = performance.now();
    const other = await request(await b.getUrl()).get('/a/slow');
    expect([other.status, status(other), other.text]).toEqual([200, 'MISS', '{"n":2}']);
    expect(performance.now() - startedAt).toBeLessThan(3000);
  });
});
