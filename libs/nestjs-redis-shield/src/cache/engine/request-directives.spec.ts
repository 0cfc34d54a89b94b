import type { HonorRequestCacheControl } from './cache.options.js';
import { requestDirectives, splitUrl } from './request-directives.js';

/** A request with these headers (lower-case names). */
const request = (headers: Record<string, string> = {}) => ({ header: (name: string) => headers[name] });

const NONE = request();
const NO_CACHE = request({ 'cache-control': 'no-cache' });
const NO_STORE = request({ 'cache-control': 'no-store' });
const BOTH = request({ 'cache-control': 'No-Store, NO-CACHE' });
const PRAGMA = request({ pragma: 'No-Cache' });

describe('requestDirectives', () => {
  it('reads and writes without directives, whatever the mode and scope', () => {
    for (const mode of ['never', 'per-user', 'always'] as HonorRequestCacheControl[]) {
      for (const perUser of [true, false]) {
        expect(requestDirectives(NONE, perUser, mode)).toEqual({ read: true, write: true });
      }
    }
  });

  describe("'per-user' (the default)", () => {
    it('honours both directives on per-user entries: no-cache skips the read, no-store both', () => {
      expect(requestDirectives(NO_CACHE, true, 'per-user')).toEqual({ read: false, write: true });
      expect(requestDirectives(NO_STORE, true, 'per-user')).toEqual({ read: false, write: false });
      expect(requestDirectives(PRAGMA, true, 'per-user')).toEqual({ read: false, write: true });
    });

    it('on shared entries ignores no-cache and lets no-store only prevent the write', () => {
      expect(requestDirectives(NO_CACHE, false, 'per-user')).toEqual({ read: true, write: true });
      expect(requestDirectives(PRAGMA, false, 'per-user')).toEqual({ read: true, write: true });
      expect(requestDirectives(NO_STORE, false, 'per-user')).toEqual({ read: true, write: false });
      expect(requestDirectives(BOTH, false, 'per-user')).toEqual({ read: true, write: false });
    });
  });

  it("'always' honours them on shared entries too", () => {
    expect(requestDirectives(NO_CACHE, false, 'always')).toEqual({ read: false, write: true });
    expect(requestDirectives(NO_STORE, false, 'always')).toEqual({ read: false, write: false });
    expect(requestDirectives(BOTH, false, 'always')).toEqual({ read: false, write: false });
  });

  it("'never' ignores them, even on per-user entries", () => {
    expect(requestDirectives(BOTH, true, 'never')).toEqual({ read: true, write: true });
    expect(requestDirectives(PRAGMA, true, 'never')).toEqual({ read: true, write: true });
  });

  it('matches whole directives, case-insensitively, among others', () => {
    expect(requestDirectives(request({ 'cache-control': 'max-age=0, NO-CACHE' }), true, 'per-user').read).toBe(false);
    expect(requestDirectives(request({ 'cache-control': 'no-cacheable' }), true, 'per-user').read).toBe(true);
    expect(requestDirectives(request({ 'cache-control': 'max-age=0' }), true, 'per-user')).toEqual({
      read: true,
      write: true,
    });
    // Pragma counts only as exactly no-cache.
    expect(requestDirectives(request({ pragma: 'no-cache, x' }), true, 'per-user').read).toBe(true);
  });
});

describe('splitUrl', () => {
  it.each([
    ['/a/b', '/a/b', ''],
    ['/a/b?x=1&y=2', '/a/b', 'x=1&y=2'],
    ['/a?', '/a', ''],
    ['/a?x=1#frag', '/a', 'x=1'],
    ['/a#frag?not-a-query', '/a', ''],
    ['/a/%2F?q=%20', '/a/%2F', 'q=%20'],
    ['/?a=b?c', '/', 'a=b?c'],
  ])('splits the origin form %s without a URL parse', (target, path, query) => {
    expect(splitUrl(target)).toEqual({ path, query });
  });

  it('reduces the absolute form to its path and query', () => {
    expect(splitUrl('http://example.com/a/b?x=1#f')).toEqual({ path: '/a/b', query: 'x=1' });
    expect(splitUrl('https://example.com')).toEqual({ path: '/', query: '' });
  });
});
