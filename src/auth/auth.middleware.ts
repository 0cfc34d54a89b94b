import { Inject, Injectable, type NestMiddleware, UnauthorizedException } from '@nestjs/common';
import type { AppConfig } from '../config/load-config.js';
import { APP_CONFIG } from '../common/app-config.token.js';
import type { DemoRequest, DemoResponse } from '../common/http-types.js';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier.js';

/**
 * Authentication as middleware, so it runs before every guard (the rate-limit guard
 * keys authenticated clients by `request.user`). No `Authorization` header means an
 * anonymous request; a malformed, wrongly signed or expired bearer token is a 401.
 */
@Injectable()
export class AuthMiddleware implements NestMiddleware<DemoRequest, DemoResponse> {
  private readonly verifier: JwtVerifier;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.verifier = new JwtVerifier(config.jwtSecret);
  }

  async use(req: DemoRequest, res: DemoResponse, next: () => void): Promise<void> {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return next();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    try {
      if (!match) throw new InvalidTokenError('Authorization header must be "Bearer <token>"');
      req.user = await this.verifier.verify(match[1]);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      // Thrown, not passed to next(): Nest's middleware proxy hands it to the exception
      // filters, which answer JSON on both adapters.
      throw new UnauthorizedException(error.message);
    }
    next();
  }
}
