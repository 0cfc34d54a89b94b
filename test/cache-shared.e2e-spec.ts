import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { CacheService } from 'nestjs-redis-shield';
import { ResponseCacheWriter } from '../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import type { HttpAdapterName } from '../src/app.factory.js';
import { sharedCalls, startSharedCacheApp } from './fixtures/shared-cache-app.js';
import { type RedisServer, startRedis } from './harness/index.js';

// The response cache as a correct shared cache (web cache poisoning and deception): a
// shared entry only holds a response every client mapped to its key would have received.

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each<HttpAdapterName>(['express', 'fastify'])('the cache as a shared cache on %s', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await startSharedCacheApp({ adapter, redisUrl: server.url });
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    await app.get(ResponseCacheWriter).flush();
    await server.command('FLUSHALL');
    for (const key of Object.keys(sharedCalls)) delete sharedCalls[key];
  });

  /** GETs and lets the entry be written before the next request. */
  async function get(path: string, headers: Record<string, string> = {}) {
    const response = await request(url).get(path).set(headers);
    await app.get(ResponseCacheWriter).flush();
    return response;
  }

  const status = (response: request.Response) => response.headers['x-cache-status'];

  it("keys by host: one host's response never reaches another host", async () => {
    const evil = await get('/acct', { Host: 'evil.example.com' });
    expect(evil.body).toEqual({ account: 'evil' });
    const acme = await get('/acct', { Host: 'acme.example.com' });
    expect([status(acme), acme.body]).toEqual(['MISS', { account: 'acme' }]);
    expect(status(await get('/acct', { Host: 'acme.example.com' }))).toBe('HIT');
  });

  it('keys by the forwarded host where the adapter trusts the proxy: a reflected host is never served to another', async () => {
    const evil = await get('/s/link', { 'X-Forwarded-Host': 'evil.example.net' });
    expect(evil.body.self).toBe('https://evil.example.net/s/link');
    const good = await get('/s/link', { 'X-Forwarded-Host': 'api.example.com' });
    expect([status(good), good.body.self]).toEqual(['MISS', 'https://api.example.com/s/link']);
  });

  it('decides on the final headers: a Set-Cookie added outside the cache is never stored or served to another', async () => {
    const alice = await get('/s/csrf', { 'X-User': 'alice' });
    expect(alice.headers['set-cookie']?.[0]).toMatch(/^csrf=alice-token/);
    expect(status(alice)).toBe('BYPASS');
    const bob = await get('/s/csrf', { 'X-User': 'bob' });
    expect(status(bob)).toBe('BYPASS');
    expect(bob.headers['set-cookie']?.[0]).toMatch(/^csrf=bob-token/);
    expect(sharedCalls.csrf).toBe(2);
  });

  it('decides on the headers as finally written: a session cookie set at header time is never stored', async () => {
    const alice = await get('/s/session', { 'X-User': 'alice' });
    expect(alice.headers['set-cookie']?.[0]).toBe('sid=alice');
    const bob = await get('/s/session', { 'X-User': 'bob' });
    expect(status(bob)).not.toBe('HIT');
    expect(bob.headers['set-cookie']?.[0]).toBe('sid=bob');
    expect(sharedCalls.session).toBe(2);
    expect(String(await server.command('KEYS', 'cache:response:*'))).toBe('');
  });

  it('stores nothing when the handler emits a value and then fails', async () => {
    expect((await get('/s/partial')).status).toBe(500);
    const next = await get('/s/partial');
    expect(next.status).toBe(500);
    expect(status(next)).toBeUndefined();
    expect(sharedCalls.partial).toBe(2);
  });

  it('stores the last value of an Observable, and waiting requests get that one', async () => {
    const [leader, follower] = await Promise.all([
      request(url).get('/s/two'),
      sleep(10).then(() => request(url).get('/s/two')),
    ]);
    expect(leader.body).toEqual({ value: 'last', n: 1 });
    expect(follower.body).toEqual({ value: 'last', n: 1 });
    await app.get(ResponseCacheWriter).flush();
    expect((await get('/s/two')).body).toEqual({ value: 'last', n: 1 });
    expect(sharedCalls.two).toBe(1);
  });

  it('a GET with a body is neither read from nor written to the cache', async () => {
    await get('/s/lang?lang=de');
    const withBody = await request(url).get('/s/lang?lang=de').set('Content-Type', 'application/json').send('{"x":1}');
    expect(status(withBody)).toBe('BYPASS');
    expect(sharedCalls.lang).toBe(2);
  });

  it('repeated query keys keep their order in the key', async () => {
    const frEn = await get('/s/lang?lang=fr&lang=en');
    const enFr = await get('/s/lang?lang=en&lang=fr');
    expect([status(frEn), status(enFr)]).toEqual(['MISS', 'MISS']);
    expect(frEn.body.lang).toEqual(['fr', 'en']);
    expect(enFr.body.lang).toEqual(['en', 'fr']);
    expect(status(await get('/s/lang?lang=en&lang=fr'))).toBe('HIT');
  });

  it.each(['/s/no-cache', '/s/max-age-0', '/s/s-maxage-0', '/s/vary-star'])(
    '%s: a response directive that forbids a shared cache to store is honoured',
    async (path) => {
      expect(status(await get(path))).toBe('BYPASS');
      expect(status(await get(path))).toBe('BYPASS');
    },
  );

  it('s-maxage shortens the TTL of a shared entry', async () => {
    expect(status(await get('/s/s-maxage-2'))).toBe('MISS');
    const [key] = String(await server.command('KEYS', 'cache:response:*')).split(',');
    expect(Number(await server.command('PTTL', key))).toBeLessThanOrEqual(2000);
    expect(status(await get('/s/s-maxage-2'))).toBe('HIT');
  });

  it('a response that varies on Authorization is never stored as a shared entry', async () => {
    const alice = await get('/s/vary-auth', { Authorization: 'Bearer alice' });
    expect(status(alice)).toBe('BYPASS');
    const bob = await get('/s/vary-auth', { Authorization: 'Bearer bob' });
    expect([status(bob), bob.body.authorization]).toEqual(['BYPASS', 'Bearer bob']);
  });

  it("a handler's own Vary on an undeclared header is learned: that header splits the route's keys", async () => {
    // Not stored the first time (its key did not include Accept-Language)...
    expect(status(await get('/s/vary-lang', { 'Accept-Language': 'de' }))).toBe('BYPASS');
    // ...then keyed by it.
    expect(status(await get('/s/vary-lang', { 'Accept-Language': 'de' }))).toBe('MISS');
    const fr = await get('/s/vary-lang', { 'Accept-Language': 'fr' });
    expect([status(fr), fr.body.language]).toEqual(['MISS', 'fr']);
    const de = await get('/s/vary-lang', { 'Accept-Language': 'de' });
    expect([status(de), de.body.language]).toEqual(['HIT', 'de']);
  });

  it('@Redirect with a URL returned by the handler redirects every caller to its own target', async () => {
    const first = await get('/s/go?to=https://a.example.com/');
    const second = await get('/s/go?to=https://b.example.com/');
    expect([first.status, first.headers.location]).toEqual([302, 'https://a.example.com/']);
    expect([second.status, second.headers.location]).toEqual([302, 'https://b.example.com/']);
  });

  it('a HEAD never writes the entry a GET reads', async () => {
    const head = await request(url).head('/s/any');
    expect(head.status).toBe(200);
    await app.get(ResponseCacheWriter).flush();
    const got = await get('/s/any');
    expect([status(got), got.body]).toEqual(['MISS', { method: 'GET' }]);
    // ...and a HEAD after it is answered from that entry.
    expect(status(await request(url).head('/s/any'))).toBe('HIT');
  });

  it('identityParts split per-user entries: a changed plan gets a fresh entry', async () => {
    expect(status(await get('/s/mine', { 'X-User': 'alice:free' }))).toBe('MISS');
    expect(status(await get('/s/mine', { 'X-User': 'alice:free' }))).toBe('HIT');
    const pro = await get('/s/mine', { 'X-User': 'alice:pro' });
    expect([status(pro), pro.body.user.plan]).toEqual(['MISS', 'pro']);
  });

  it('10 000 path spellings and variants leave at most the cap stored, even when they arrive concurrently', async () => {
    // The demo-like default cap is 1 000; this app keeps it. Half are spellings of one another.
    const paths = Array.from(
      { length: 10_000 },
      (_, i) => (i % 2 === 0 ? `/s/p/v${i}` : `/s/p/%76${i - 1}`), // %76 is "v": the spelling of the previous path
    );
    for (let start = 0; start < paths.length; start += 100) {
      await Promise.all(paths.slice(start, start + 100).map((path) => request(url).get(path)));
    }
    await app.get(ResponseCacheWriter).flush();
    const stored = String(await server.command('KEYS', 'cache:response:*'))
      .split(',')
      .filter(Boolean).length;
    expect(stored).toBe(1000);
    // Clearing them deletes exactly what was stored (the batches are bounded: see the store's cost specs).
    expect(await app.get(CacheService).clearAll()).toBe(1000);
  }, 60_000);
});
