import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
  UnauthorizedException,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SYSTEM_API_OPTIONS, type SystemApiModuleOptions } from './system-api.options.js';

/**
 * Guards the admin endpoints with the module's `authorize` option; secure by default:
 * without it every admin endpoint answers 403 `{"error":"admin endpoints disabled"}`.
 */
@Injectable()
export class SystemAdminGuard implements CanActivate, OnModuleInit {
  private readonly logger = new Logger('SystemApi');
  private delegate: CanActivate | undefined;

  constructor(
    @Inject(SYSTEM_API_OPTIONS) private readonly options: SystemApiModuleOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    const { authorize } = this.options;
    if (!authorize) {
      this.logger.warn('no authorize option: the admin endpoints of the system API answer 403 (disabled)');
    } else if (isGuardClass(authorize)) {
      this.delegate = await this.moduleRef.create(authorize);
    }
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { authorize } = this.options;
    if (!authorize) throw new ForbiddenException({ error: 'admin endpoints disabled' });
    if (this.delegate) return this.delegate.canActivate(context) as Promise<boolean> | boolean;
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
