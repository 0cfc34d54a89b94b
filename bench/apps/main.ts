// A bench app host: one child process of bench/bench.mjs, which runs Nest apps serving
// `GET /ping` → `{ ok: true }` behind the limiter and/or cache a config names (see
// config.ts), each on a free loopback port, Express or Fastify (`adapter`), logger off. The
// driver talks over the IPC channel: `start` (a config) → `started` (its port), `stats` →
// this process's CPU time and each app's health, `stop` → `stopped`. Each measured variant
// gets a process of its own, so `process.cpuUsage()` is that variant's; the extra apps a
// host may run later (counted runs through the proxy, floods) run while its measured app is idle.
import 'reflect-metadata';
import { type DynamicModule, type INestApplication, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { BenchAppConfig, BenchAppStats } from './config.js';
import { PingController, handlerCalls } from './controllers/ping.controller.js';
import type { BenchPart } from './parts/part.js';

type Request =
  | { seq: number; type: 'start'; config: BenchAppConfig }
  | { seq: number; type: 'stop'; port: number }
  | { seq: number; type: 'stats' };

const apps = new Map<number, { app: INestApplication; problems: () => string[] }>();

@Module({})
class BenchAppModule {}

process.on('message', (request: Request) => {
  handle(request).then(
    (reply) => process.send?.({ seq: request.seq, ok: true, ...reply }),
    (error: unknown) =>
      process.send?.({ seq: request.seq, ok: false, error: error instanceof Error ? error.stack : String(error) }),
  );
});
// The driver gone (even killed): nothing left to serve.
process.on('disconnect', () => process.exit(0));

async function handle(request: Request): Promise<object> {
  switch (request.type) {
    case 'start':
      return { port: await start(request.config) };
    case 'stop': {
      const entry = apps.get(request.port);
      apps.delete(request.port);
      await entry?.app.close();
      return {};
    }
    case 'stats': {
      const stats: BenchAppStats = {
        cpu: process.cpuUsage(),
        handlerCalls: handlerCalls.count,
        problems: [...apps.values()].flatMap((entry) => entry.problems()),
      };
      return stats;
    }
  }
}

async function start(config: BenchAppConfig): Promise<number> {
  const parts = await loadParts(config);
  const controller: Type = parts.find((part) => part.controller)?.controller ?? PingController;
  const module: DynamicModule = {
    module: BenchAppModule,
    imports: parts.flatMap((part) => part.imports ?? []),
    providers: parts.flatMap((part) => part.providers ?? []),
    controllers: [controller],
  };
  const app = await createApp(module, config);
  const readers = parts.flatMap((part) => (part.watch ? [part.watch(app)] : []));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  apps.set(port, { app, problems: () => readers.flatMap((read) => read()) });
  process.stdout.write(`bench app listening on http://127.0.0.1:${port} (${JSON.stringify(describe(config))})\n`);
  return port;
}

/**
 * The Nest app on the adapter the config names. Distinct clients come as X-Forwarded-For
 * (memory runs): every variant trusts it alike, Express by `trust proxy`, Fastify by its
 * `trustProxy` option. Fastify is loaded only by the hosts that use it.
 */
async function createApp(module: DynamicModule, config: BenchAppConfig): Promise<INestApplication> {
  const options = {
    logger: false as const,
    // Start-up errors reach the driver instead of a silent exit 1.
    abortOnError: false,
  };
  if (config.adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    return NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter({ trustProxy: true }), options);
  }
  const app = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(), options);
  app.set('trust proxy', true);
  return app;
}

/** Each library is loaded only by the hosts that use it. */
async function loadParts(config: BenchAppConfig): Promise<BenchPart[]> {
  const parts: BenchPart[] = [];
  if (config.limiter === 'shield' || config.cache === 'shield') {
    parts.push((await import('./parts/shield.js')).shieldPart(config));
  }
  if (config.limiter === 'throttler') parts.push((await import('./parts/throttler.js')).throttlerPart(config));
  if (config.limiter === 'rlf') parts.push((await import('./parts/rlf.js')).rlfPart(config));
  if (config.limiter === 'floor') parts.push((await import('./parts/floor.js')).floorPart(config));
  if (config.cache === 'cache-manager') parts.push((await import('./parts/cache-manager.js')).cacheManagerPart(config));
  if (config.noopInterceptor) parts.push((await import('./parts/noop-interceptor.js')).noopInterceptorPart());
  return parts;
}

function describe(config: BenchAppConfig): object {
  const { redisUrl: _url, tiers, ...rest } = config;
  return { ...rest, tiers: tiers.map((tier) => `${tier.name} ${tier.limit}/${tier.windowMs} ms`) };
}
