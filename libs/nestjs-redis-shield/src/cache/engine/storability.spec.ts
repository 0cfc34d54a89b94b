import { cacheControl, decideStorage, type FinalResponse, headerList, type StorageContext } from './storability.js';

const context: StorageContext = {
  routeTtlMs: 60_000,
  shared: true,
  keyedHeaders: new Set(['accept-language']),
  maxEntryBytes: 1000,
};

function response(headers: Record<string, string> = {}, status = 200, bodyBytes = 10): FinalResponse {
  return { status, bodyBytes, header: (name) => headers[name] };
}

describe('decideStorage', () => {
  it('stores a plain 200 or 201 for the route TTL', () => {
    expect(decideStorage(response(), context)).toEqual({
      store: true,
      ttlMs: 60_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 0,
    });
    expect(decideStorage(response({}, 201), context).store).toBe(true);
  });

  it.each([
    ['a 404', response({}, 404), 'status'],
    ['a 206', response({}, 206), 'status'],
    ['Set-Cookie', response({ 'set-cookie': 'a=b' }), 'set-cookie'],
    ['a body over the maximum', response({}, 200, 1001), 'size'],
    ['no-store', response({ 'cache-control': 'public, no-store' }), 'no-store'],
    ['no-cache', response({ 'cache-control': 'no-cache' }), 'no-cache'],
    ['no-cache with fields', response({ 'cache-control': 'no-cache="set-cookie"' }), 'no-cache'],
    ['private on a shared entry', response({ 'cache-control': 'private, max-age=60' }), 'private'],
    ['max-age=0', response({ 'cache-control': 'max-age=0' }), 'max-age'],
    ['s-maxage=0 even with a max-age', response({ 'cache-control': 'max-age=60, s-maxage=0' }), 's-maxage'],
    ['a malformed max-age', response({ 'cache-control': 'max-age=soon' }), 'max-age'],
    ['Vary: *', response({ vary: '*' }), 'vary'],
    ['Vary: Authorization on a shared entry', response({ vary: 'Accept-Language, Authorization' }), 'vary'],
    ['Vary: Cookie on a shared entry', response({ vary: 'cookie' }), 'vary'],
  ])('does not store %s', (_name, final, reason) => {
    expect(decideStorage(final, context)).toMatchObject({ store: false, reason });
  });

  it('lets s-maxage (shared) or max-age shorten the TTL, never lengthen it', () => {
    expect(decideStorage(response({ 'cache-control': 'max-age=10, s-maxage=5' }), context).ttlMs).toBe(5000);
    expect(decideStorage(response({ 'cache-control': 'max-age=10' }), context).ttlMs).toBe(10_000);
    expect(decideStorage(response({ 'cache-control': 'max-age=3600' }), context).ttlMs).toBe(60_000);
    // A per-user entry is a private cache's: s-maxage does not apply to it.
    const perUser = { ...context, shared: false };
    expect(decideStorage(response({ 'cache-control': 'max-age=10, s-maxage=5' }), perUser).ttlMs).toBe(10_000);
  });

  it('allows private, Vary: Authorization and Vary: Cookie on per-user entries', () => {
    const perUser = { ...context, shared: false };
    const final = response({ 'cache-control': 'private', vary: 'Authorization, Cookie' });
    expect(decideStorage(final, perUser).store).toBe(true);
  });

  it('learns a varied header the key did not include, and stores nothing this time', () => {
    expect(decideStorage(response({ vary: 'Accept-Language, Accept-Encoding, X-Tenant' }), context)).toMatchObject({
      store: false,
      reason: 'vary',
      learnVary: ['accept-encoding', 'x-tenant'],
    });
    expect(decideStorage(response({ vary: 'accept-language' }), context).store).toBe(true);
  });
});

describe('decideStorage with stale windows', () => {
  const windows: StorageContext = { ...context, routeStaleWhileRevalidateMs: 30_000, routeStaleIfErrorMs: 600_000 };

  it("gives the route's stale windows; a response's own directives are ignored unless the route respects them", () => {
    const own = response({ 'cache-control': 'max-age=120, stale-while-revalidate=5, stale-if-error=7' });
    expect(decideStorage(own, windows)).toMatchObject({
      store: true,
      ttlMs: 60_000, // max-age only shortens
      staleWhileRevalidateMs: 30_000,
      staleIfErrorMs: 600_000,
    });
  });

  it('with respectResponseCacheControl, max-age / s-maxage set the TTL (longer too) and the directives the windows', () => {
    const respect: StorageContext = { ...windows, respectResponseCacheControl: true };
    const own = response({ 'cache-control': 'max-age=5, s-maxage=120, stale-while-revalidate=5, stale-if-error=7' });
    expect(decideStorage(own, respect)).toMatchObject({
      store: true,
      ttlMs: 120_000,
      staleWhileRevalidateMs: 5_000,
      staleIfErrorMs: 7_000,
    });
    // Per-user entries read max-age; absent directives keep the route's windows.
    expect(decideStorage(response({ 'cache-control': 'max-age=5' }), { ...respect, shared: false })).toMatchObject({
      ttlMs: 5_000,
      staleWhileRevalidateMs: 30_000,
      staleIfErrorMs: 600_000,
    });
    // A window is capped at a day; garbage is ignored.
    expect(
      decideStorage(response({ 'cache-control': 'stale-while-revalidate=99999999, stale-if-error=x' }), respect),
    ).toMatchObject({ staleWhileRevalidateMs: 86_400_000, staleIfErrorMs: 600_000 });
  });

  it('no-store, no-cache and private keep their meaning when the route respects the response', () => {
    const respect: StorageContext = { ...windows, respectResponseCacheControl: true };
    for (const header of ['no-store, stale-while-revalidate=60', 'no-cache', 'private, max-age=60', 's-maxage=0']) {
      expect(decideStorage(response({ 'cache-control': header }), respect).store).toBe(false);
    }
  });
});

describe('header parsing', () => {
  it('reads Cache-Control directives, case-insensitively, first one of a name wins', () => {
    expect([...cacheControl('Public, MAX-AGE="60", max-age=1, no-cache="a,b"')]).toEqual([
      ['public', undefined],
      ['max-age', '60'],
      ['no-cache', 'a,b'],
    ]);
    expect(cacheControl(undefined).size).toBe(0);
  });

  it('reads a Vary list', () => {
    expect(headerList(' Accept-Language ,, Cookie')).toEqual(['accept-language', 'cookie']);
    expect(headerList(undefined)).toEqual([]);
  });
});
