import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { CacheService } from 'nestjs-redis-shield';
import { CacheStatsCounter } from '../libs/nestjs-redis-shield/src/cache/nest/cache-stats.counter.js';
import { CacheL1 } from '../libs/nestjs-redis-shield/src/cache/nest/cache-l1.js';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import type { HttpAdapterName } from '../src/app.factory.js';
import { authCalls, startAuthCacheApp } from './fixtures/auth-cache-app.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';

// Who may receive a cached response (issue 23, items 1, 6, 7 and 12): the identity in a key
// is the one the handler sees, however the app authenticates; requests that cannot be tied
// to a user never share an entry; spellings of one route input share one entry.

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

const USERS = ['alice', 'bob', 'carol'];
const bearer = (name: string) => ({ Authorization: `Bearer ${name}` });

describe.each<HttpAdapterName>(['express', 'fastify'])('cache identity on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startAuthCacheApp({ adapter, redisUrl: server.url, cache: { maxVariants: 3 } });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    await app.get(ResponseCacheWriter).flush();
    await server.command('FLUSHALL');
    // FLUSHALL went behind the cache's back: empty the L1 too, as an invalidation would.
    app.get(CacheL1).cache.invalidateAll();
    for (const key of Object.keys(authCalls)) delete authCalls[key];
  });

  /** GETs `path` as `user` and lets the entry be written before the next request. */
  async function get(path: string, headers: Record<string, string> = {}) {
    const response = await request(url).get(path).set(headers);
    await app.get(ResponseCacheWriter).flush();
    return response;
  }

  describe.each([
    ['a route guard on the controller', '/ctl/me', 'ctl'],
    ['a route guard on the handler', '/handler/me', 'handler'],
    ['a global guard registered after the library', '/global/me', 'global'],
    ['middleware', '/mw/me', 'mw'],
  ])('authenticated by %s', (_how, path, route) => {
    it("two users never see each other's body; each gets their own entry", async () => {
      for (const user of USERS) {
        const response = await get(path, bearer(user));
        expect(response.status).toBe(200);
        expect(response.body.user).toBe(user);
        expect(response.headers['x-cache-status']).toBe('MISS');
        expect(response.headers['cache-control']).toMatch(/private/);
      }
      for (const user of USERS) {
        const again = await get(path, bearer(user));
        expect(again.headers['x-cache-status']).toBe('HIT');
        expect(again.body.user).toBe(user);
      }
      expect(authCalls[route]).toBe(USERS.length);
      // Anonymous callers share one entry of their own, never a user's.
      const anonymous = await get(path);
      expect(anonymous.body.user).toBeNull();
      expect(anonymous.headers['x-cache-status']).toBe('MISS');
    });
  });

  it('a user object without an id never shares an entry: BYPASS, warned once naming the userId option', async () => {
    const logger = new CaptureLogger();
    app.useLogger(logger);
    try {
      for (const user of [...USERS, ...USERS]) {
        const response = await get('/noid/me', bearer(user));
        expect(response.headers['x-cache-status']).toBe('BYPASS');
        expect(response.body.user).toBe(`${user}@example.com`);
      }
      expect(authCalls.noid).toBe(USERS.length * 2);
      const warnings = logger.lines.filter((line) => line.level === 'warn' && /userId option/.test(line.message));
      expect(warnings).toHaveLength(1);
      expect(String(await server.command('KEYS', 'cache:response:*'))).toBe('');
    } finally {
      app.useLogger(false);
    }
  });

  it('credentials without a user never read or write a shared entry (a route that forwards the token)', async () => {
    for (const user of USERS) {
      const response = await get('/forward/me', bearer(user));
      expect(response.headers['x-cache-status']).toBe('BYPASS');
      expect(response.body.token).toBe(user);
    }
    const cookie = await get('/forward/me', { Cookie: 'session=alice' });
    expect(cookie.headers['x-cache-status']).toBe('BYPASS');
    // Anonymous requests without credentials still share; an explicitly shared route ignores credentials.
    expect((await get('/forward/me')).headers['x-cache-status']).toBe('MISS');
    expect((await get('/forward/me')).headers['x-cache-status']).toBe('HIT');
    expect((await get('/forward/public', bearer('alice'))).headers['x-cache-status']).toBe('MISS');
    expect((await get('/forward/public', bearer('bob'))).headers['x-cache-status']).toBe('HIT');
  });

  it("one user's query variants never switch caching off for another user or for anonymous callers", async () => {
    // maxVariants is 3 in this app: alice fills her own quota on /ctl/me.
    for (let i = 0; i < 3; i++) {
      expect((await get(`/ctl/me?v=${i}`, bearer('alice'))).headers['x-cache-status']).toBe('MISS');
    }
    expect((await get('/ctl/me?v=99', bearer('alice'))).headers['x-cache-status']).toBe('BYPASS');
    expect((await get('/ctl/me?v=0', bearer('alice'))).headers['x-cache-status']).toBe('HIT');
    expect((await get('/ctl/me?v=99', bearer('bob'))).headers['x-cache-status']).toBe('MISS');
    expect((await get('/ctl/me?v=99')).headers['x-cache-status']).toBe('MISS');
  });

  it('a route at its variant cap stores new variants again once an invalidation deleted some', async () => {
    // maxVariants is 3: three shared entries fill the route's quota.
    for (const id of ['a', 'b', 'c']) expect((await get(`/spell/items/${id}`)).headers['x-cache-status']).toBe('MISS');
    expect((await get('/spell/items/d')).headers['x-cache-status']).toBe('BYPASS');
    expect(await app.get(CacheService).invalidatePattern('*/spell/items/a')).toBe(1);
    expect((await get('/spell/items/d')).headers['x-cache-status']).toBe('MISS');
    expect((await get('/spell/items/e')).headers['x-cache-status']).toBe('BYPASS');
  });

  it('spellings of one route input share one entry, and an invalidation by canonical path reaches them all', async () => {
    const first = await get('/spell/items/m');
    expect(first.headers['x-cache-status']).toBe('MISS');
    const spellings = ['/spell/items/%6D', '/spell/items/%6d?'];
    // Express routes case-insensitively and ignores a trailing slash; Fastify does neither by default (404).
    if (adapter === 'express') spellings.push('/SPELL/Items/m', '/spell/items/m/');
    for (const spelling of spellings) {
      const response = await get(spelling);
      expect([spelling, response.headers['x-cache-status']]).toEqual([spelling, 'HIT']);
      expect(response.text).toBe(first.text);
    }
    expect(authCalls.spell).toBe(1);
    // A different input is a different entry, however similar its spelling.
    expect((await get('/spell/items/M')).headers['x-cache-status']).toBe('MISS');
    expect((await get('/spell/items/m%2F')).headers['x-cache-status']).toBe('MISS');

    // Anchored (a plain pattern is a substring match and would also take /spell/items/m%2F).
    expect(await app.get(CacheService).invalidatePattern('*/spell/items/m')).toBe(1);
    expect((await get('/spell/items/%6D')).headers['x-cache-status']).toBe('MISS');
  });

  it('wildcard parameters are canonical too', async () => {
    expect((await get('/spell/files/a/b%20c')).headers['x-cache-status']).toBe('MISS');
    expect((await get('/spell/files/a/b c'.replace(' ', '%20'))).headers['x-cache-status']).toBe('HIT');
    expect((await get('/spell/files/%61/b%20c')).headers['x-cache-status']).toBe('HIT');
    expect(await app.get(CacheService).invalidatePattern('/spell/files/a/b%20c')).toBe(1);
  });

  it('a response that is never stored (a 404) carries no MISS and counts no miss', async () => {
    const misses = async () => {
      await app.get(CacheStatsCounter).flush();
      return (await app.get(CacheService).getStats()).misses;
    };
    const before = await misses();
    const notFound = await get('/spell/items/missing');
    expect(notFound.status).toBe(404);
    expect(notFound.headers['x-cache-status']).toBeUndefined();
    expect(await misses()).toBe(before);
    expect((await get('/spell/items/found')).headers['x-cache-status']).toBe('MISS');
    expect(await misses()).toBe(before + 1);
  });

  // Forged in Redis behind the app's back: an L1 would go on serving the entry it holds, so
  // this one runs on an instance with the L1 off, where every hit decodes what Redis holds.
  describe('from Redis', () => {
    let withL1: { app: INestApplication; url: string };

    beforeAll(async () => {
      withL1 = { app, url };
      app = await startAuthCacheApp({ adapter, redisUrl: server.url, cache: { maxVariants: 3, l1: { maxBytes: 0 } } });
      url = await app.getUrl();
    });

    afterAll(async () => {
      await app?.close();
      ({ app, url } = withL1);
    });

    it('an entry forged in Redis with a malformed header block is a MISS, never a 500 or a header injection', async () => {
      const first = await get('/forward/public');
      expect(first.headers['x-cache-status']).toBe('MISS');
      const [key] = String(await server.command('KEYS', 'cache:response:*')).split(',');
      // Our framing (magic, flags, metadata length), a header value that would split the response.
      const meta = JSON.stringify({ s: 200, h: { 'content-type': 'text/html\r\nset-cookie: x=1' }, t: 1, e: '"abc"' });
      expect(meta.length).toBeLessThan(128);
      await server.command(
        'SET',
        key,
        `RSC1\u0000\u0000\u0000\u0000${String.fromCharCode(meta.length)}${meta}{}`,
        'PX',
        '60000',
      );
      const forgedHit = await get('/forward/public');
      expect(forgedHit.status).toBe(200);
      expect(forgedHit.headers['x-cache-status']).toBe('MISS');
      expect(forgedHit.headers['set-cookie']).toBeUndefined();
      expect(forgedHit.body.route).toBe('public');
      // The forged entry was replaced by the handler's response.
      expect((await get('/forward/public')).headers['x-cache-status']).toBe('HIT');
    });
  });
});
