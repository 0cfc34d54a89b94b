import { errors as joseErrors, jwtVerify } from 'jose';
import type { AuthUser } from './auth-user.js';

/** Why a token was refused; the message is safe to return to the client. */
export class InvalidTokenError extends Error {}

/**
 * Verifies HS256 bearer tokens and maps their claims onto {@link AuthUser}.
 * Only HS256 is accepted (no `none`, no algorithm confusion); `exp`/`nbf` are checked.
 */
export class JwtVerifier {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  async verify(token: string): Promise<AuthUser> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] }));
    } catch (error) {
      throw new InvalidTokenError(error instanceof joseErrors.JWTExpired ? 'Token expired' : 'Invalid token');
    }
    const { sub, roles, plan } = payload;
    if (typeof sub !== 'string' || sub === '') throw new InvalidTokenError('Invalid token: no subject');
    return {
      id: sub,
      roles: Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : [],
      plan: typeof plan === 'string' && plan !== '' ? plan : 'free',
    };
  }
}
