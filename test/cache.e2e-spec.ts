import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { CacheL1 } from '../libs/nestjs-redis-shield/src/cache/nest/cache-l1.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import type { HttpAdapterName } from '../src/app.factory.js';
import { calls, control, startCacheApp } from './fixtures/cache-app.js';
import { type RecordedCommand, type RedisServer, type RespProxy, startRedis, startRespProxy } from './harness/index.js';

let server: RedisServer;
let proxy: RespProxy;

beforeAll(async () => {
  server = await startRedis();
  proxy = await startRespProxy(server);
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

/**
 * The commands sent on the connection that carries requests (the one of the first EVALSHA:
 * the instance bus's subscriber has a connection of its own, with a heartbeat), scripts by
 * what they read (`EVALSHA rate-limit`, `EVALSHA cache-lookup`), sorted by name: a request's
 * cache read and rate-limit script leave in the same write, the script at the end of the
 * event-loop turn with the turn's other decisions (DecisionBatch), after the read.
 */
function requestCommands(): string[] {
  const script = (command: RecordedCommand) => {
    const [key = ''] = proxy.keysOf(command);
    if (key.startsWith('rate_limit:')) return 'EVALSHA rate-limit';
    return key.startsWith('cache:response:') ? 'EVALSHA cache-lookup' : 'EVALSHA';
  };
  const requests = proxy.commands.find((command) => script(command) === 'EVALSHA rate-limit')?.connection;
  return proxy.commands
    .filter((command) => command.connection === requests)
    .map((command) => (command.name === 'EVALSHA' ? script(command) : command.name))
    .sort();
}

const entryKeys = async () =>
  String(await server.command('KEYS', 'cache:response:*'))
    .split(',')
    .filter(Boolean);

describe.each<HttpAdapterName>(['express', 'fastify'])('response caching on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startCacheApp({ adapter, redisUrl: proxy.url });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    // Entries are written after the response: let the previous test's writes land first.
    await app.get(ResponseCacheWriter).flush();
    await server.command('FLUSHALL');
    // FLUSHALL went behind the cache's back: empty the L1 too, as an invalidation would.
    app.get(CacheL1).cache.invalidateAll();
    for (const key of Object.keys(calls)) delete calls[key];
    Object.assign(control, { delayMs: 0, fail: false, concurrent: 0, maxConcurrent: 0 });
  });

  /** GETs `path` and waits until its entry is written (writes happen after the response). */
  async function miss(path: string, headers: Record<string, string> = {}) {
    const before = (await entryKeys()).length;
    const response = await request(url).get(path).set(headers);
    await waitForEntries(before + (response.headers['x-cache-status'] === 'MISS' ? 1 : 0));
    return response;
  }

  async function waitForEntries(count: number) {
    const deadline = Date.now() + 2000;
    while ((await entryKeys()).length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} cache entries`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  describe('hits', () => {
    it('MISS then HIT with the same bytes and type, without running the handler', async () => {
      const first = await miss('/c/shared');
      expect(first.status).toBe(200);
      expect(first.headers['x-cache-status']).toBe('MISS');
      const second = await request(url).get('/c/shared');
      expect(second.headers['x-cache-status']).toBe('HIT');
      expect(second.text).toBe(first.text);
      expect(second.headers['content-type']).toBe(first.headers['content-type']);
      expect(second.headers['content-type']).toMatch(/^application\/json/);
      expect(second.headers.age).toMatch(/^\d+$/);
      expect(calls.shared).toBe(1);
    });

    // The Redis (L2) path: a hit from the L1 sends no command at all, so these two run on an
    // instance with the L1 off.
    describe('from Redis', () => {
      let withL1: { app: INestApplication; url: string };

      beforeAll(async () => {
        withL1 = { app, url };
        app = await startCacheApp({ adapter, redisUrl: proxy.url, cache: { l1: { maxBytes: 0 } } });
        url = await app.getUrl();
      });

      afterAll(async () => {
        await app?.close();
        ({ app, url } = withL1);
      });

      it('a HIT costs one cache read (plus the rate-limit script); a MISS reads the variant count of its scope', async () => {
        // The variant count reads the index of the route's entries in the request's scope.
        const variantIndexCalls = () =>
          proxy.commands.filter((command) =>
            proxy.keysOf(command).some((key) => key.startsWith('cache:index:variant:')),
          ).length;
        for (const path of ['/c/shared', '/c/shared?page=2']) {
          proxy.reset();
          await miss(path);
          await app.get(ResponseCacheWriter).flush();
          // Path and query variants alike: the count while the handler runs, then the write's index update.
          expect(variantIndexCalls()).toBe(2);
        }
        proxy.reset();
        expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('HIT');
        expect(requestCommands()).toEqual(['EVALSHA cache-lookup', 'EVALSHA rate-limit']);
        // Found stored by that read: the next hit reads it with a plain GET.
        proxy.reset();
        expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('HIT');
        expect(requestCommands()).toEqual(['EVALSHA rate-limit', 'GET']);
      });

      // The first read of an entry is the lookup script; once a read found it stored, a GET.
      it.each([
        ['the lookup script of an entry not read before', false, 'EVALSHA cache-lookup'],
        ['the GET of an entry found stored before', true, 'GET'],
      ])(
        'the cache read (%s) goes out together with the rate-limit script, not after its answer',
        async (_, hot, read) => {
          await miss('/c/shared');
          await app.get(ResponseCacheWriter).flush();
          if (hot) expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('HIT');
          // With Redis stalled, only commands sent without waiting for a reply reach the proxy.
          await server.stall();
          try {
            proxy.reset();
            const response = await request(url).get('/c/shared');
            expect(response.status).toBe(200); // both timed out: fallback limit, BYPASS
            expect(response.headers['x-cache-status']).toBe('BYPASS');
            // On the request connection (the instance bus's subscriber has its own, with its heartbeat);
            // MULTI, HINCRBY, EXEC: the statistics flush of the earlier miss, once per second.
            const statsFlush = new Set(['MULTI', 'HINCRBY', 'EXEC']);
            expect(requestCommands().filter((name) => !statsFlush.has(name))).toEqual(
              ['EVALSHA rate-limit', read].sort(),
            );
          } finally {
            await server.resume();
          }
        },
      );
    });

    it('a strong ETag (not the adapter weak one); If-None-Match gets 304 without the handler', async () => {
      const first = await miss('/c/shared');
      expect(first.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      const notModified = await request(url).get('/c/shared').set('If-None-Match', first.headers.etag);
      expect(notModified.status).toBe(304);
      expect(notModified.text).toBe('');
      expect(calls.shared).toBe(1);
    });

    it('HEAD after GET is answered from the GET entry', async () => {
      await miss('/c/shared');
      const head = await request(url).head('/c/shared');
      expect(head.status).toBe(200);
      expect(head.headers['x-cache-status']).toBe('HIT');
      expect(calls.shared).toBe(1);
    });

    it("a HIT carries the current request's X-RateLimit-Remaining, not the stored one", async () => {
      const first = await miss('/c/shared');
      const second = await request(url).get('/c/shared');
      expect(second.headers['x-cache-status']).toBe('HIT');
      expect(Number(second.headers['x-ratelimit-remaining'])).toBe(Number(first.headers['x-ratelimit-remaining']) - 1);
    });
  });

  describe('isolation', () => {
    it("user A's entry is never served to user B or to an anonymous client", async () => {
      const a = await miss('/c/mine', { 'X-User': 'alice' });
      expect(a.headers['cache-control']).toMatch(/private/);
      expect(a.headers.vary).toMatch(/Authorization/i);
      const b = await request(url).get('/c/mine').set('X-User', 'bob');
      expect(b.headers['x-cache-status']).toBe('MISS');
      const anonymous = await request(url).get('/c/mine');
      expect(anonymous.headers['x-cache-status']).toBe('MISS');
      const again = await request(url).get('/c/mine').set('X-User', 'alice');
      expect(again.headers['x-cache-status']).toBe('HIT');
      expect(again.text).toBe(a.text);
      expect(again.headers['cache-control']).toMatch(/private/);
      expect(calls.mine).toBe(3);
    });

    it('a shared route has one entry for everybody', async () => {
      await miss('/c/shared', { 'X-User': 'alice' });
      for (const user of ['bob', 'carol']) {
        expect((await request(url).get('/c/shared').set('X-User', user)).headers['x-cache-status']).toBe('HIT');
      }
      expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('HIT');
      expect(calls.shared).toBe(1);
      expect(await entryKeys()).toHaveLength(1);
    });
  });

  describe('keys', () => {
    it('query order does not matter, values do', async () => {
      await miss('/c/items/1?a=1&b=2');
      expect((await request(url).get('/c/items/1?b=2&a=1')).headers['x-cache-status']).toBe('HIT');
      expect((await request(url).get('/c/items/1?a=1&b=3')).headers['x-cache-status']).toBe('MISS');
    });

    it('beyond the per-route cap of query variants, further variants BYPASS', async () => {
      for (let i = 0; i < 5; i++) await miss(`/c/items/1?v=${i}`);
      const over = await request(url).get('/c/items/1?v=99');
      expect(over.headers['x-cache-status']).toBe('BYPASS');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await entryKeys()).toHaveLength(5);
    });

    it('a declared vary header splits entries', async () => {
      await miss('/c/lang', { 'Accept-Language': 'en' });
      expect((await request(url).get('/c/lang').set('Accept-Language', 'de')).headers['x-cache-status']).toBe('MISS');
      expect((await request(url).get('/c/lang').set('Accept-Language', 'en')).headers['x-cache-status']).toBe('HIT');
    });
  });

  describe('what is not stored', () => {
    it.each([
      ['a 404', '/c/items/missing', 404],
      ['Cache-Control: no-store', '/c/no-store', 200],
      ['Set-Cookie', '/c/cookie', 200],
      ['a body over the maximum', '/c/big', 200],
      ['a StreamableFile', '/c/file', 200],
    ])('%s', async (_name, path, status) => {
      const first = await request(url).get(path);
      expect(first.status).toBe(status);
      if (status === 200) expect(first.headers['x-cache-status']).toBe('BYPASS');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await entryKeys()).toHaveLength(0);
    });

    it('server-sent events are streamed, never stored', async () => {
      const response = await request(url)
        .get('/c/events')
        .buffer(true)
        .parse((res, done) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => done(null, text));
        });
      expect(response.status).toBe(200);
      expect(String(response.body)).toContain('data: {"i":0}');
      expect(response.headers['x-cache-status']).toBe('BYPASS');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await entryKeys()).toHaveLength(0);
    });

    it('@NoCache and routes without @CacheTtl carry no cache status', async () => {
      for (const path of ['/c/never', '/c/plain']) {
        const response = await request(url).get(path);
        expect(response.headers['x-cache-status']).toBeUndefined();
      }
      expect(await entryKeys()).toHaveLength(0);
    });

    it('a POST runs and is never stored', async () => {
      const response = await request(url).post('/c/items');
      expect(response.status).toBe(201);
      expect(response.headers['x-cache-status']).toBeUndefined();
      expect(await entryKeys()).toHaveLength(0);
    });
  });

  describe('request directives (per-user by default)', () => {
    it('no-cache refreshes a per-user entry but is ignored on a shared one', async () => {
      await miss('/c/mine', { 'X-User': 'alice' });
      const refreshed = await request(url).get('/c/mine').set({ 'X-User': 'alice', 'Cache-Control': 'no-cache' });
      expect(refreshed.headers['x-cache-status']).toBe('MISS');
      expect(calls.mine).toBe(2);
      await miss('/c/shared');
      const shared = await request(url).get('/c/shared').set('Cache-Control', 'no-cache');
      expect(shared.headers['x-cache-status']).toBe('HIT');
      expect(calls.shared).toBe(1);
    });

    it('no-store neither reads nor writes', async () => {
      await miss('/c/mine', { 'X-User': 'alice' });
      const response = await request(url).get('/c/mine').set({ 'X-User': 'alice', 'Cache-Control': 'no-store' });
      expect(response.headers['x-cache-status']).not.toBe('HIT');
      const fresh = await request(url).get('/c/shared').set('Cache-Control', 'no-store');
      expect(fresh.headers['x-cache-status']).toBe('BYPASS');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await entryKeys()).toHaveLength(1); // only alice's first entry
    });
  });

  describe('stampede', () => {
    it.each([200, 50, 0])('50 concurrent misses of one key run a handler of %i ms once', async (delayMs) => {
      control.delayMs = delayMs;
      const responses = await Promise.all(Array.from({ length: 50 }, () => request(url).get('/c/slow')));
      expect(responses.every((response) => response.status === 200)).toBe(true);
      // Even a handler faster than the entry's write: requests that arrive before the
      // entry is in Redis join the leader instead of running the handler again.
      expect(calls.slow).toBe(1);
      expect(new Set(responses.map((response) => response.text)).size).toBe(1);
    });

    it('50 misses of 50 different keys overlap', async () => {
      control.delayMs = 100;
      await Promise.all(Array.from({ length: 50 }, (_, i) => request(url).get('/c/slow').set('X-User', `user-${i}`)));
      expect(calls.slow).toBe(50);
      expect(control.maxConcurrent).toBeGreaterThan(1);
    });

    it('a failing leader lets the followers run', async () => {
      control.delayMs = 300;
      control.fail = true;
      const pending = Promise.all(Array.from({ length: 5 }, () => request(url).get('/c/slow')));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the leader has started, failing
      control.fail = false;
      const responses = await pending;
      expect(responses.filter((response) => response.status === 500)).toHaveLength(1);
      expect(responses.filter((response) => response.status === 200)).toHaveLength(4);
    });
  });

  it('invalidation after a mutating 2xx', async () => {
    await miss('/c/items/1');
    await miss('/c/items/2');
    await miss('/c/shared');
    await request(url).post('/c/items').expect(201);
    expect((await request(url).get('/c/items/1')).headers['x-cache-status']).toBe('MISS');
    expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('HIT');
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('inside ClassSerializerInterceptor on %s', (adapter) => {
  it('a HIT is the stored bytes, untouched by the serializer around the cache', async () => {
    const app = await startCacheApp({ adapter, redisUrl: proxy.url, classSerializer: true });
    try {
      const url = await app.getUrl();
      await server.command('FLUSHALL');
      const first = await request(url).get('/c/shared');
      expect(first.headers['x-cache-status']).toBe('MISS');
      await app.get(ResponseCacheWriter).flush();
      const second = await request(url).get('/c/shared');
      expect(second.headers['x-cache-status']).toBe('HIT');
      expect(second.text).toBe(first.text);
      expect(JSON.parse(second.text)).toEqual({ kind: 'shared', n: expect.any(Number), at: expect.any(String) });
      expect(second.headers['content-type']).toBe(first.headers['content-type']);
    } finally {
      await app.close();
    }
  });
});

describe('CACHE disabled', () => {
  it('answers BYPASS and writes nothing', async () => {
    const app = await startCacheApp({ adapter: 'express', redisUrl: proxy.url, cache: { enabled: false } });
    try {
      const url = await app.getUrl();
      proxy.reset();
      for (let i = 0; i < 3; i++)
        expect((await request(url).get('/c/shared')).headers['x-cache-status']).toBe('BYPASS');
      expect(proxy.commands.filter((command) => proxy.keysOf(command).some((key) => key.includes('cache:')))).toEqual(
        [],
      );
    } finally {
      await app.close();
    }
  });
});
