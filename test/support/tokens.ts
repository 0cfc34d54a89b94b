import { SignJWT } from 'jose';

/** Claims of a demo token. */
export interface TokenClaims {
  sub?: string;
  roles?: string[];
  plan?: string;
}

/** Signs an HS256 token as the demo's clients would send it. */
export async function signToken(
  secret: string,
  claims: TokenClaims,
  { expiresIn = '1h' }: { expiresIn?: string | number } = {},
): Promise<string> {
  const { sub, ...rest } = claims;
  const jwt = new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn);
  if (sub !== undefined) jwt.setSubject(sub);
  return jwt.sign(new TextEncoder().encode(secret));
}
