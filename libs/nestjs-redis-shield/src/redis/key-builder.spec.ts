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
});
