import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { messages, withCode } from '../../core/errors.js';
import { type AuthorizeOption, SYSTEM_API_OPTIONS, type SystemApiModuleOptions } from './system-api.options.js';

/**
 * Applies an {@link AuthorizeOption} to a request: the one implementation behind the
 * system API's admin guard and the metrics endpoint's guard. A verdict function's
 * `unauthenticated` is a 401 `{"error":"authentication required"}`, `forbidden` a 403
 * whose `error` is the message each caller names; a guard class decides (and throws) on its own.
 * The exceptions carry the message's code (`SHIELD_E013`, ...) as `code`; their bodies do not.
 */
export class RequestAuthorizer {
  private delegate: Promise<CanActivate> | undefined;

  /**
   * @param authorize The option to apply.
   * @param moduleRef The injector a guard class is created with (once, on first use).
   * @param forbidden The message whose text is the `error` of the 403 body when the verdict is `forbidden`.
   */
  constructor(
    private readonly authorize: AuthorizeOption,
    private readonly moduleRef: ModuleRef,
    private readonly forbidden: 'adminRoleRequired' | 'metricsAccessDenied',
  ) {}

  /** True when the request may proceed; throws the 401 or 403 otherwise. */
  async check(context: ExecutionContext): Promise<boolean> {
    const { authorize } = this;
    if (isGuardClass(authorize)) {
      this.delegate ??= this.moduleRef.create(authorize);
      return (await this.delegate).canActivate(context) as Promise<boolean> | boolean;
    }
    const verdict = await (authorize as (request: unknown) => unknown)(context.switchToHttp().getRequest());
    if (verdict === 'allow') return true;
    if (verdict === 'unauthenticated') {
      throw withCode(new UnauthorizedException({ error: messages.authenticationRequired() }), 'authenticationRequired');
    }
    throw withCode(new ForbiddenException({ error: messages[this.forbidden]() }), this.forbidden);
  }
}

/**
 * Guards the admin endpoints with the module's `authorize` option; secure by default:
 * without it every admin endpoint answers 403 `{"error":"admin endpoints disabled"}`.
 */
@Injectable()
export class SystemAdminGuard implements CanActivate {
  private readonly authorizer: RequestAuthorizer | undefined;

  /** @internal Instantiated by Nest as part of `SystemApiModule`. */
  constructor(@Inject(SYSTEM_API_OPTIONS) options: SystemApiModuleOptions, moduleRef: ModuleRef) {
    this.authorizer = options.authorize && new RequestAuthorizer(options.authorize, moduleRef, 'adminRoleRequired');
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!this.authorizer) throw withCode(new ForbiddenException({ error: messages.adminDisabled() }), 'adminDisabled');
    return this.authorizer.check(context);
  }
}

function isGuardClass(value: unknown): value is new (...args: never[]) => CanActivate {
  return (
    typeof value === 'function' &&
    typeof (value as { prototype?: { canActivate?: unknown } }).prototype?.canActivate === 'function'
  );
}
