import { type INestApplication, type LoggerService, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/load-config.js';

/** Options for {@link createApp}; tests pass a capturing logger. */
export interface CreateAppOptions {
  logger?: LoggerService | false;
}

/** Every route of the demo lives under this prefix. */
export const API_PREFIX = 'api/v1';

/**
 * Creates (but does not start) the demo application: the one place its HTTP setup
 * lives, shared by `main.ts` and the e2e tests so they exercise the same app.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger: options.logger,
    bufferLogs: options.logger === undefined,
    // Throw start-up errors to the caller (main.ts logs them; tests see them) instead of exiting.
    abortOnError: false,
  });
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.setGlobalPrefix(API_PREFIX);
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.enableShutdownHooks();
  return app;
}
