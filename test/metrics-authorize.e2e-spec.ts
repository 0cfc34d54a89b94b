import {
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  Injectable,
  Module,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { type AdminVerdict, ShieldMetricsModule } from 'nestjs-redis-shield';
import request from 'supertest';
import type { HttpAdapterName } from '../src/app.factory.js';

// The `authorize` option of ShieldMetricsModule over HTTP, on both adapters. The metrics
// module needs no Redis: these apps hold nothing else.

const SCRAPE_TOKEN = 'scrape-token-0123456789';

/** Reads the header the way an app would, from the Express or the Fastify request. */
const header = (request: unknown, name: string) =>
  (request as { headers: Record<string, string | undefined> }).headers[name];

/** Allows the scrape token; other tokens are forbidden, none is unauthenticated. Async, as a token check may be. */
async function authorizeScrape(request: unknown): Promise<AdminVerdict> {
  const token = header(request, 'x-scrape-token');
  if (token === undefined) return 'unauthenticated';
  return token === SCRAPE_TOKEN ? 'allow' : 'forbidden';
}

@Injectable()
class ScrapeHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return header(context.switchToHttp().getRequest(), 'x-scrape-token') === SCRAPE_TOKEN;
  }
}

describe.each<HttpAdapterName>(['express', 'fastify'])('ShieldMetricsModule authorize on %s', (adapter) => {
  const apps: INestApplication[] = [];

  async function start(metricsModule: DynamicModule): Promise<string> {
    @Module({ imports: [metricsModule] })
    class MetricsOnlyModule {}
    const app = await NestFactory.create(
      MetricsOnlyModule,
      adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
      { logger: false, abortOnError: false },
    );
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    return app.getUrl();
  }

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  it('without authorize the endpoint stays public (backward compatible)', async () => {
    const url = await start(ShieldMetricsModule.forRoot({}));
    const response = await request(url).get('/metrics').expect(200);
    expect(response.text).toContain('# TYPE shield_redis_up gauge');
  });

  it('a verdict function answers 401 without credentials, 403 with wrong ones, the metrics with the right ones', async () => {
    const url = await start(ShieldMetricsModule.forRoot({ authorize: authorizeScrape }));
    const anonymous = await request(url).get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ error: 'authentication required' });
    expect(anonymous.text).not.toContain('shield_');
    const wrong = await request(url).get('/metrics').set('X-Scrape-Token', 'guessed');
    expect(wrong.status).toBe(403);
    expect(wrong.body).toEqual({ error: 'metrics access denied' });
    const allowed = await request(url).get('/metrics').set('X-Scrape-Token', SCRAPE_TOKEN).expect(200);
    expect(allowed.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(allowed.text).toContain('# TYPE shield_redis_up gauge');
  });

  it('forRootAsync takes authorize from its factory, at a custom path', async () => {
    const url = await start(
      ShieldMetricsModule.forRootAsync({ useFactory: () => ({ authorize: authorizeScrape }), path: 'ops/metrics' }),
    );
    expect((await request(url).get('/ops/metrics')).status).toBe(401);
    await request(url).get('/ops/metrics').set('X-Scrape-Token', SCRAPE_TOKEN).expect(200);
  });

  it('authorize may be a guard class', async () => {
    const url = await start(ShieldMetricsModule.forRoot({ authorize: ScrapeHeaderGuard }));
    expect((await request(url).get('/metrics')).status).toBe(403);
    expect((await request(url).get('/metrics').set('X-Scrape-Token', 'guessed')).status).toBe(403);
    const allowed = await request(url).get('/metrics').set('X-Scrape-Token', SCRAPE_TOKEN).expect(200);
    expect(allowed.text).toContain('shield_redis_up');
  });
});
