import { SignJWT } from 'jose';

/** A request to mint a token that {@link mintToken} refuses; the message names the bad input. */
export class MintTokenError extends Error {}

/** What {@link mintToken} signs. */
export interface MintTokenOptions {
  /** The `sub` claim: who the token is for, e.g. `prometheus`. */
  sub: string;
  /** The `roles` claim; `admin` is what the demo's /metrics and system API ask for. */
  roles: string[];
  /** Lifetime: digits and a unit, `s`, `m`, `h` or `d` (e.g. `90d`); at most {@link MAX_TOKEN_LIFETIME_SECONDS}. */
  expiresIn: string;
  /** Issue time in ms since the epoch; default now (tests pin it). */
  nowMs?: number;
}

/** The longest lifetime {@link mintToken} signs, in seconds (365 days): a token that never expires is never rotated. */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 86_400;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A lifetime like `90d` in seconds; throws {@link MintTokenError} on anything else. */
export function parseLifetime(text: string): number {
  const match = /^([1-9]\d{0,8})([smhd])$/.exec(text.trim());
  if (!match) throw new MintTokenError(`--expires "${text}": expected digits and a unit s, m, h or d, e.g. 90d`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  if (seconds > MAX_TOKEN_LIFETIME_SECONDS) throw new MintTokenError(`--expires "${text}": at most 365d`);
  return seconds;
}

/**
 * Signs an HS256 token the demo accepts (see `JwtVerifier`): `sub`, `roles`, `iat`, `exp`.
 * The operator's way to get the bearer token Prometheus scrapes `/metrics` with.
 *
 * @param secret The demo's `JWT_SECRET`.
 * @returns The token and when it expires.
 */
export async function mintToken(
  secret: string,
  options: MintTokenOptions,
): Promise<{ token: string; expiresAt: Date }> {
  const sub = options.sub.trim();
  if (sub === '') throw new MintTokenError('--sub: expected a non-empty subject');
  const roles = options.roles.map((role) => role.trim());
  if (roles.some((role) => role === '')) throw new MintTokenError('--role: expected non-empty role names');
  const issuedAt = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const expiresAt = issuedAt + parseLifetime(options.expiresIn);
  const token = await new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(secret));
  return { token, expiresAt: new Date(expiresAt * 1000) };
}
