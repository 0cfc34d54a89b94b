import { type INestApplication, type LoggerService, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { GRAPHQL_PATH } from './graphql/demo-graphql.module.js';
import type { AppConfig } from './config/load-config.js';

/** The HTTP platforms the demo runs on. */
export type HttpAdapterName = 'express' | 'fastify';

/** Options for {@link createApp}; tests pass a capturing logger and pick the adapter. */
export interface CreateAppOptions {
  logger?: LoggerService | false;
  /** Default `express`. */
  adapter?: HttpAdapterName;
}

/** Every route of the demo lives under this prefix, except the Prometheus endpoint. */
export const API_PREFIX = 'api/v1';

/** Where Prometheus scrapes: at the root, as scrape configs expect by default. */
export const METRICS_PATH = 'metrics';

/**
 * Creates (but does not start) the demo application: the one place its HTTP setup
 * lives, shared by `main.ts` and the e2e tests so they exercise the same app.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create(
    AppModule.forRoot(config, options.adapter ?? 'express'),
    createAdapter(config, options.adapter ?? 'express'),
    {
      logger: options.logger,
      bufferLogs: options.logger === undefined,
      // Throw start-up errors to the caller (main.ts logs them; tests see them) instead of exiting.
      abortOnError: false,
    },
  );
  if (options.adapter !== 'fastify') {
    const express = app as NestExpressApplication;
    express.set('trust proxy', config.trustProxy);
    express.disable('x-powered-by');
  }
  // GraphQL answers at /graphql (its own path); excluded so the middleware mapped to it stays there.
  app.setGlobalPrefix(API_PREFIX, { exclude: [METRICS_PATH, GRAPHQL_PATH.slice(1)] });
  // The `/ws` gateway speaks plain WebSockets (any client, no socket.io protocol), on the same server.
  app.useWebSocketAdapter(new WsAdapter(app));
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  // Built here, from explicit decorators only (no CLI plugin), so tests and `npm start`
  // serve the same document.
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('nestjs-redis-shield demo API')
      .setDescription('Rate-limited, cached demo routes and the system API')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT (HS256)' })
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document);
  return app;
}

function createAdapter(config: AppConfig, adapter: HttpAdapterName): ExpressAdapter | FastifyAdapter {
  if (adapter === 'express') return new ExpressAdapter();
  // The same TRUST_PROXY values as Express; a hop count becomes proxy-addr's hop rule.
  const { trustProxy } = config;
  const hops = typeof trustProxy === 'number' ? trustProxy : undefined;
  return new FastifyAdapter({
    // Fastify refuses path parameters over 100 characters with 414; user ids in the
    // system API may be 256 code points, i.e. up to ~2 300 characters URL-encoded.
    maxParamLength: 4096,
    trustProxy: hops === undefined ? (trustProxy as boolean | string[]) : (_address: string, hop: number) => hop < hops,
  });
}
