/**
 * The user id of `request.user`: its `id`, `sub` or `userId` (string or number). Shared
 * by the rate limiter (a user's bucket) and the response cache (a user's scope), so both
 * read the same user the same way.
 */
export function defaultUserId(user: unknown): string | undefined {
  if (typeof user !== 'object' || user === null) return undefined;
  const { id, sub, userId } = user as Record<string, unknown>;
  for (const candidate of [id, sub, userId]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
    if (typeof candidate === 'number' && Number.isFinite(candidate)) return String(candidate);
  }
  return undefined;
}
