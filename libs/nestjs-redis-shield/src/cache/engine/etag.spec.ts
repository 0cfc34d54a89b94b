import { createHash } from 'node:crypto';
import { etagOf, matchesEtag } from './etag.js';

describe('etagOf', () => {
  it('is a quoted 27-character base64url prefix of the SHA-256 of the body', () => {
    const body = Buffer.from('{"id":1}');
    const etag = etagOf(body);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(etag).toBe(`"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`);
  });

  it('is the same for the same bytes and differs when one byte does', () => {
    expect(etagOf(Buffer.from('abc'))).toBe(etagOf(Buffer.from('abc')));
    expect(etagOf(Buffer.from('abc'))).not.toBe(etagOf(Buffer.from('abd')));
    expect(etagOf(Buffer.alloc(0))).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  });
});

describe('matchesEtag', () => {
  const etag = etagOf(Buffer.from('body'));

  it('matches the ETag itself, in a list, or weakly', () => {
    expect(matchesEtag(etag, etag)).toBe(true);
    expect(matchesEtag(`"other", ${etag}`, etag)).toBe(true);
    expect(matchesEtag(` W/${etag} `, etag)).toBe(true);
    expect(matchesEtag(`"a",W/${etag},"b"`, etag)).toBe(true);
  });

  it('matches anything with *', () => {
    expect(matchesEtag('*', etag)).toBe(true);
    expect(matchesEtag(' * ', etag)).toBe(true);
  });

  it('does not match without the header, another ETag, or an unquoted one', () => {
    expect(matchesEtag(undefined, etag)).toBe(false);
    expect(matchesEtag('', etag)).toBe(false);
    expect(matchesEtag('"other"', etag)).toBe(false);
    expect(matchesEtag(etag.slice(1, -1), etag)).toBe(false);
    expect(matchesEtag('*, "other"', etag)).toBe(false); // `*` counts alone only
  });
});
