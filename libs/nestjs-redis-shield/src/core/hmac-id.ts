import { createHmac } from 'node:crypto';

/** Length of every hashed id, in base64url characters (132 bits of the HMAC). */
export const HASHED_ID_LENGTH = 22;

/**
 * Hashes a client or user id for use in keys, indexes, streams and logs.
 *
 * The result is HMAC-SHA-256(secret, id), base64url, truncated to
 * {@link HASHED_ID_LENGTH} characters. A keyed hash (not a plain SHA) because ids
 * such as IPv4 addresses are few enough to reverse a plain hash by enumeration.
 * Every instance of a deployment must use the same secret or their keys differ.
 *
 * @example
 * hashId(process.env.IP_HASH_SECRET!, '203.0.113.7'); // 'q3H0…' (22 chars)
 */
export function hashId(secret: string, id: string): string {
  return createHmac('sha256', secret).update(id, 'utf8').digest('base64url').slice(0, HASHED_ID_LENGTH);
}
