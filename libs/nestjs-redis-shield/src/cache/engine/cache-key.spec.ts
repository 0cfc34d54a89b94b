import { cacheDigest, type CacheKeyParts, canonicalQuery } from './cache-key.js';

const base: CacheKeyParts = {
  keyVersion: '1',
  handlerId: 'ModelsController.one',
  method: 'GET',
  path: '/api/v1/models/gpt-4',
  query: 'a=1&b=2',
  scope: 'shared',
  vary: {},
};

describe('cache key', () => {
  it("remembers recent digests without ever returning another request's", () => {
    const first = cacheDigest(base);
    for (let i = 0; i < 25_000; i++) cacheDigest({ ...base, path: `/api/v1/models/${i}` });
    // Evicted and recomputed, remembered and reused: the same digest either way.
    expect(cacheDigest(base)).toBe(first);
    expect(cacheDigest({ ...base, path: '/api/v1/models/24999' })).toBe(
      cacheDigest({ ...base, path: '/api/v1/models/24999', vary: {} }),
    );
    expect(cacheDigest({ ...base, path: '/api/v1/models/1' })).not.toBe(
      cacheDigest({ ...base, path: '/api/v1/models/2' }),
    );
  });

  it('canonicalises the query: the order of names does not matter, values and the order of repeated keys do', () => {
    expect(canonicalQuery('b=2&a=1')).toBe('a=1&b=2');
    // An application may read the first value or the list in order: repeated keys keep their order.
    expect(canonicalQuery('a=2&a=1')).toBe('a=2&a=1');
    expect(canonicalQuery('lang=fr&b=1&lang=en')).toBe('b=1&lang=fr&lang=en');
    expect(canonicalQuery('q=hello%20world')).toBe(canonicalQuery('q=hello+world'));
    expect(cacheDigest({ ...base, query: 'b=2&a=1' })).toBe(cacheDigest(base));
    expect(cacheDigest({ ...base, query: 'a=1&b=3' })).not.toBe(cacheDigest(base));
  });

  it('changes with every part', () => {
    const digest = cacheDigest(base);
    for (const change of [
      { keyVersion: '2' },
      { handlerId: 'ModelsController.list' },
      { apiVersion: '2' },
      { host: 'evil.example.com' },
      { scheme: 'https' },
      { path: '/api/v1/models/gpt-5' },
      { scope: 'user:abc' },
      { vary: { 'accept-language': 'de' } },
    ]) {
      expect(cacheDigest({ ...base, ...change })).not.toBe(digest);
    }
  });

  it('is 43 base64url characters and reveals no path', () => {
    const digest = cacheDigest(base);
    expect(digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(digest).not.toContain('models');
  });

  it('does not collide by moving text between parts', () => {
    expect(cacheDigest({ ...base, path: '/a', query: 'b=1' })).not.toBe(
      cacheDigest({ ...base, path: '/a?b=1', query: '' }),
    );
  });
});
