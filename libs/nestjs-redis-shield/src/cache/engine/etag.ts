import { createHash } from 'node:crypto';

/** The strong ETag of a body: a quoted base64url SHA-256 prefix (27 characters). */
export function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/**
 * Whether `If-None-Match` matches a stored entry's strong ETag, so a hit answers 304:
 * `*` matches anything; the weak comparison is allowed (`W/"x"` matches `"x"`).
 */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}
