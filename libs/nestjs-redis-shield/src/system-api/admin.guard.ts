import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SYSTEM_API_OPTIONS, type SystemApiModuleOptions } from './system-api.options.js';

/**
 * Guards the admin endpoints with the module's `authorize` option; secure by default:
 * without it every admin endpoint answers 403 `{"error":"admin endpoints disabled"}`.
 */
@Injectable()
export class SystemAdminGuard implements CanActivate {
  private delegate: Promise<CanActivate> | undefined;

  /** @internal Instantiated by Nest as part of `SystemApiModule`. */
  constructor(
    @Inject(SYSTEM_API_OPTIONS) private readonly options: SystemApiModuleOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { authorize } = this.options;
    if (!authorize) throw new ForbiddenException({ error: 'admin endpoints disabled' });
    if (isGuardClass(authorize)) {
      this.delegate ??= this.moduleRef.create(authorize);
      return (await this.delegate).canActivate(context) as Promise<boolean> | boolean;
    }
    const verdict = await (authorize as (request: unknown) => unknown)(context.switchToHttp().getRequest());
    if (verdict === 'allow') return true;
    if (verdict === 'unauthenticated') throw new UnauthorizedException({ error: 'authentication required' });
    throw new ForbiddenException({ error: 'admin role required' });
  }
}

function isGuardClass(value: unknown): value is new (...args: never[]) => CanActivate {
  return (
    typeof value === 'function' &&
    typeof (value as { prototype?: { canActivate?: unknown } }).prototype?.canActivate === 'function'
  );
}
