import { hashId } from '../../core/hmac-id.js';
import { escapeGlob, KeyBuilder } from './key-builder.js';

describe('KeyBuilder', () => {
  const keys = new KeyBuilder({ prefix: 'app1:', hashSecret: 'secret' });

  it('prefixes every area and hashes client ids into one hash tag', () => {
    const key = keys.rateLimit('ip:203.0.113.7', 'default');
    expect(key).toMatch(/^app1:rate_limit:\{[A-Za-z0-9_-]{22}\}:default$/);
    expect(key).not.toContain('203.0.113.7');
    expect(keys.rateLimit('ip:203.0.113.7', 'other').split(':')[2]).toBe(key.split(':')[2]);
    expect(keys.data('session:1')).toBe('app1:session:1');
  });

  it('builds the same rate-limit key from a client id and from its HMAC, and refuses anything but an HMAC', () => {
    const hash = keys.hashId('ip:203.0.113.7');
    expect(keys.rateLimitOfHash(hash, 'default')).toBe(keys.rateLimit('ip:203.0.113.7', 'default'));
    for (const bad of ['', 'short', `${hash}x`, '{AAAAAAAAAAAAAAAAAAAA}', 'AAAAAAAAAAAAAAAAAAAA:A']) {
      expect(() => keys.rateLimitOfHash(bad, 'default')).toThrow(/a client HMAC must be 22 base64url characters/);
    }
  });

  it('remembers recent HMACs, boundedly, and always returns the HMAC of the id asked', () => {
    const builder = new KeyBuilder({ prefix: '', hashSecret: 'secret' });
    for (let i = 0; i < 25_000; i++) expect(builder.hashId(`ip:10.0.${i >> 8}.${i & 255}`)).toHaveLength(22);
    expect((builder as unknown as { hashed: Map<string, string> }).hashed.size).toBe(10_000);
    // The oldest were dropped, the newest kept: both still hash right.
    for (const id of ['ip:10.0.0.0', 'ip:10.0.97.167', 'user:42']) {
      expect(builder.hashId(id)).toBe(hashId('secret', id));
      expect(builder.hashId(id)).toBe(hashId('secret', id));
    }
  });

  it('keeps client kinds apart', () => {
    expect(keys.clientTag('user:1.2.3.4')).not.toBe(keys.clientTag('ip:1.2.3.4'));
  });

  it('refuses braces in the prefix and an empty secret', () => {
    expect(() => new KeyBuilder({ prefix: 'a{b', hashSecret: 's' })).toThrow(/keyPrefix="a\{b".*no \{ or \}/);
    expect(() => new KeyBuilder({ prefix: 'a}', hashSecret: 's' })).toThrow(/keyPrefix/);
    expect(() => new KeyBuilder({ prefix: '', hashSecret: '' })).toThrow(/hashSecret/);
  });

  it('escapes glob characters of the prefix in SCAN patterns', () => {
    const odd = new KeyBuilder({ prefix: 'a*b?[c]\\:', hashSecret: 's' });
    expect(odd.scanPattern('x*')).toBe('a\\*b\\?\\[c\\]\\\\:x*');
    expect(keys.scanPattern()).toBe('app1:*');
    expect(escapeGlob('plain')).toBe('plain');
  });

  it('strips the prefix from scanned keys', () => {
    expect(keys.stripPrefix('app1:foo')).toBe('foo');
    expect(keys.stripPrefix('other:foo')).toBe('other:foo');
  });

  describe('cache keys', () => {
    const digest = 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg'; // 43 chars, like a SHA-256

    it('names entries by digest and refuses anything that is not base64url', () => {
      expect(keys.cacheEntry(digest)).toBe(`app1:cache:response:{${digest}}`);
      // The lease shares the entry's slot: one script reads both on a Cluster.
      expect(keys.cacheLease(digest)).toBe(`app1:cache:lease:{${digest}}`);
      expect(() => keys.cacheLease('/api/v1/models/gpt-4')).toThrow(RangeError);
      expect(() => keys.cacheEntry('/api/v1/models/gpt-4')).toThrow(RangeError);
      expect(() => keys.cacheEntry('short')).toThrow(/16-128 base64url/);
      expect(() => keys.cacheEntry('a'.repeat(129))).toThrow(RangeError);
      expect(() => keys.cacheEntry('short')).toThrow(
        expect.objectContaining({
          code: 'SHIELD_E009',
          message: 'a cache digest must be 16-128 base64url characters, got 5 characters',
        }) as never,
      );
    });

    it('refuses a prefix with hash-tag braces and an empty secret, with code SHIELD_E001', () => {
      expect(() => new KeyBuilder({ prefix: 'a{', hashSecret: 's' })).toThrow(
        expect.objectContaining({ code: 'SHIELD_E001' }) as never,
      );
      expect(() => new KeyBuilder({ prefix: '', hashSecret: '' })).toThrow(
        /invalid option hashSecret="": expected a non-empty secret/,
      );
    });

    it('hashes route ids, user ids, tags and paths into index keys, never raw', () => {
      const path = '/api/v1/users/alice/settings';
      const index = keys.cacheIndex('path', path);
      expect(index).toMatch(/^app1:cache:index:path:[A-Za-z0-9_-]{22}$/);
      expect(index).not.toContain('alice');
      expect(keys.cacheIndex('user', 'alice')).toBe(`app1:cache:index:user:${keys.hashId('user:alice')}`);
      expect(keys.cacheIndex('route', 'ModelsController.one')).toMatch(/^app1:cache:index:route:[A-Za-z0-9_-]{22}$/);
      expect(keys.cacheIndex('tag', 'models')).toMatch(/^app1:cache:index:tag:[A-Za-z0-9_-]{22}$/);
    });

    it('keeps kinds apart and matches the registry field hash', () => {
      expect(keys.cacheHash('tag', 'x')).not.toBe(keys.cacheHash('path', 'x'));
      expect(keys.cacheIndex('path', '/a').endsWith(`:${keys.cacheHash('path', '/a')}`)).toBe(true);
      // The user hash is the one rate-limit keys use for the same user.
      expect(keys.clientTag('user:42')).toBe(`{${keys.cacheHash('user', '42')}}`);
    });

    it('names the bookkeeping keys under cache:meta:', () => {
      expect((['routes', 'paths', 'gen', 'stats'] as const).map((name) => keys.cacheMeta(name))).toEqual([
        'app1:cache:meta:routes',
        'app1:cache:meta:paths',
        'app1:cache:meta:gen',
        'app1:cache:meta:stats',
      ]);
    });
  });
});
