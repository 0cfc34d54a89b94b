import { decodeJwt } from 'jose';
import { MAX_TOKEN_LIFETIME_SECONDS, MintTokenError, mintToken, parseLifetime } from './mint-token.js';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier.js';

const SECRET = 'mint-token-spec-secret-0123456789abcdef';

describe('mintToken', () => {
  it('signs a token the demo accepts, with the subject and roles asked for', async () => {
    const { token, expiresAt } = await mintToken(SECRET, { sub: 'prometheus', roles: ['admin'], expiresIn: '90d' });
    expect(await new JwtVerifier(SECRET).verify(token)).toEqual({ id: 'prometheus', roles: ['admin'], plan: 'free' });
    const claims = decodeJwt(token);
    expect(claims.exp! - claims.iat!).toBe(90 * 86_400);
    expect(expiresAt.getTime()).toBe(claims.exp! * 1000);
  });

  it('is refused under another secret, and once expired', async () => {
    const { token } = await mintToken(SECRET, { sub: 'prometheus', roles: ['admin'], expiresIn: '1h' });
    await expect(new JwtVerifier(`${SECRET}-other`).verify(token)).rejects.toThrow(InvalidTokenError);
    const old = await mintToken(SECRET, {
      sub: 'prometheus',
      roles: ['admin'],
      expiresIn: '1h',
      nowMs: Date.now() - 2 * 3600_000,
    });
    await expect(new JwtVerifier(SECRET).verify(old.token)).rejects.toThrow('Token expired');
  });

  it('refuses an empty subject or role', async () => {
    await expect(mintToken(SECRET, { sub: ' ', roles: ['admin'], expiresIn: '1d' })).rejects.toThrow(/--sub/);
    await expect(mintToken(SECRET, { sub: 'p', roles: ['admin', ''], expiresIn: '1d' })).rejects.toThrow(/--role/);
  });
});

describe('parseLifetime', () => {
  it.each([
    ['30s', 30],
    ['15m', 900],
    ['12h', 43_200],
    ['90d', 7_776_000],
    ['365d', MAX_TOKEN_LIFETIME_SECONDS],
  ])('%s is %d s', (text, seconds) => {
    expect(parseLifetime(text)).toBe(seconds);
  });

  it.each(['', '90', 'd', '0d', '-1d', '1.5d', '90days', '1y', '366d', '8761h'])('refuses %j', (text) => {
    expect(() => parseLifetime(text)).toThrow(MintTokenError);
  });
});
