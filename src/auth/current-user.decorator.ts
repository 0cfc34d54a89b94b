import { createParamDecorator, type ExecutionContext, UnauthorizedException } from '@nestjs/common';
import type { AuthUser } from './auth-user.js';

/**
 * Injects `request.user` (set by the auth middleware); anonymous callers get a 401.
 * Reads both Express's request and Fastify's `request.raw`.
 */
export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext): AuthUser => {
  const request = ctx.switchToHttp().getRequest<{ user?: AuthUser; raw?: { user?: AuthUser } }>();
  const user = request.user ?? request.raw?.user;
  if (!user) throw new UnauthorizedException('Authentication required');
  return user;
});
