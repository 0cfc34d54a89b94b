import type { AdminVerdict } from 'nestjs-redis-shield';
import type { AuthUser } from './auth-user.js';

/** The demo's admin check: a valid JWT whose `roles` include `admin` (Express or Fastify request). */
export function authorizeAdmin(request: unknown): AdminVerdict {
  const { user, raw } = request as { user?: AuthUser; raw?: { user?: AuthUser } };
  const caller = user ?? raw?.user;
  if (!caller) return 'unauthenticated';
  return caller.roles.includes('admin') ? 'allow' : 'forbidden';
}
