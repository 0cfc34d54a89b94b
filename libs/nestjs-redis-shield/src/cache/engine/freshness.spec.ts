import type { CachedResponse } from './entry-codec.js';
import { freshnessOf, freshMsOf, lifetimesOf, storedLifetimeMs } from './freshness.js';

const STORED_AT = 1_000_000;
const entry = (overrides: Partial<CachedResponse> = {}): CachedResponse => ({
  status: 200,
  headers: {},
  body: Buffer.from('x'),
  storedAt: STORED_AT,
  etag: '"e"',
  ...overrides,
});

describe('freshnessOf', () => {
  const stale = entry({ freshMs: 10_000, staleWhileRevalidateMs: 5_000, staleIfErrorMs: 60_000 });

  it('is fresh within freshMs, then stale-while-revalidate, then stale-if-error, then expired', () => {
    expect(freshnessOf(stale, STORED_AT + 9_999, 300_000, true)).toBe('fresh');
    expect(freshnessOf(stale, STORED_AT + 10_000, 300_000, true)).toBe('stale-while-revalidate');
    expect(freshnessOf(stale, STORED_AT + 14_999, 300_000, true)).toBe('stale-while-revalidate');
    expect(freshnessOf(stale, STORED_AT + 15_000, 300_000, true)).toBe('stale-if-error');
    expect(freshnessOf(stale, STORED_AT + 69_999, 300_000, true)).toBe('stale-if-error');
    expect(freshnessOf(stale, STORED_AT + 70_000, 300_000, true)).toBe('expired');
  });

  it('without windows an entry expires with its freshness', () => {
    expect(freshnessOf(entry({ freshMs: 10_000 }), STORED_AT + 10_000, 300_000, true)).toBe('expired');
  });

  it("reads an entry written before freshness was stored by the route's TTL, shortened by its Cache-Control", () => {
    expect(freshMsOf(entry(), 60_000, true)).toBe(60_000);
    expect(freshMsOf(entry({ headers: { 'cache-control': 's-maxage=5, max-age=30' } }), 60_000, true)).toBe(5_000);
    expect(freshMsOf(entry({ headers: { 'cache-control': 's-maxage=5, max-age=30' } }), 60_000, false)).toBe(30_000);
  });
});

describe('lifetimes', () => {
  it('stores an entry for its freshness plus its longest stale window', () => {
    expect(storedLifetimeMs(10_000, 5_000, 60_000)).toBe(70_000);
    expect(storedLifetimeMs(10_000, 0, 0)).toBe(10_000);
    const times = lifetimesOf(entry({ freshMs: 10_000, staleWhileRevalidateMs: 5_000 }), 300_000, true);
    expect(times).toEqual({ freshUntil: STORED_AT + 10_000, expiresAt: STORED_AT + 15_000 });
  });
});
