import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';

/**
 * Stands in for authentication in tests: `X-User: name` sets `request.user = { id: name }`
 * (no header: anonymous). Register it as `APP_GUARD`.
 */
@Injectable()
export class HeaderUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: unknown }>();
    if (req.headers['x-user']) req.user = { id: req.headers['x-user'] };
    return true;
  }
}
