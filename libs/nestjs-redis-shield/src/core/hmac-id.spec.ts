import { HASHED_ID_LENGTH, hashId } from './hmac-id.js';

describe('hashId', () => {
  it('is deterministic per secret and differs between secrets', () => {
    expect(hashId('s1', '203.0.113.7')).toBe(hashId('s1', '203.0.113.7'));
    expect(hashId('s1', '203.0.113.7')).not.toBe(hashId('s2', '203.0.113.7'));
    expect(hashId('s1', '203.0.113.7')).not.toBe(hashId('s1', '203.0.113.8'));
  });

  it('is base64url of the expected length and never contains the id', () => {
    const hashed = hashId('secret', 'user-42');
    expect(hashed).toHaveLength(HASHED_ID_LENGTH);
    expect(hashed).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(hashed).not.toContain('user-42');
  });

  it('matches HMAC-SHA-256 truncated (a known vector)', () => {
    // RFC 4231 test case 2 key/data; digest 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
    const expected = Buffer.from('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', 'hex')
      .toString('base64url')
      .slice(0, HASHED_ID_LENGTH);
    expect(hashId('Jefe', 'what do ya want for nothing?')).toBe(expected);
  });
});
