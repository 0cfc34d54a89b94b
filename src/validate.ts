import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { CacheService, RateLimitService, RedisConnection } from 'nestjs-redis-shield';
import { AppModule } from './app.module.js';
import { loadConfig } from './config/load-config.js';

/**
 * `npm run validate`: checks a live deployment from the demo's environment variables
 *. One PASS/FAIL line per check; exit 1 on any failure. Scratch keys are
 * removed afterwards.
 */
const line = (ok: boolean, check: string, detail: string) =>
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${check}: ${detail}\n`);
let failures = 0;
const fail = (check: string, detail: string) => {
  failures += 1;
  line(false, check, detail);
};

const result = loadConfig(process.env);
if (!result.ok) {
  for (const error of result.errors) fail('config', error);
  process.exit(1);
}
line(true, 'config', result.config.production ? 'valid, production secrets set' : 'valid (development)');

const app = await NestFactory.createApplicationContext(AppModule.forRoot(result.config), {
  logger: false,
  abortOnError: false,
});
try {
  const connection = app.get(RedisConnection);
  const started = Date.now();
  while (connection.state !== 'ready' && Date.now() - started < 3000)
    await new Promise((resolve) => setTimeout(resolve, 50));
  if (connection.state !== 'ready') {
    fail('redis', `unreachable at ${redact(result.config.redis.url)} (no connection within 3 s)`);
  } else {
    const info = await connection.run(
      (client) => (client instanceof Cluster ? client.nodes('master')[0] : client).info('server'),
      { timeoutMs: 3000 },
    );
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const topology =
      connection.client instanceof Cluster
        ? `cluster, ${connection.client.nodes('master').length} masters`
        : result.config.redis.sentinels
          ? 'sentinel'
          : 'standalone';
    line(true, 'redis', `reachable, Redis ${version}, ${topology}`);

    const scratch = `validate-${randomUUID()}`;
    try {
      const limits = app.get(RateLimitService);
      const decision = await limits.consume(`user:${scratch}`, 'default', 1, {});
      await limits.reset(`user:${scratch}`);
      if (decision.allowed)
        line(true, 'rate limit', `script loaded, scratch check admitted (${decision.tiers.length} tiers), cleaned up`);
      else fail('rate limit', 'a fresh scratch client was rejected');
    } catch (error) {
      fail('rate limit', describe(error));
    }

    try {
      // Through the public CacheService: a value write and read, then an invalidation, which
      // runs the index scripts and SCANs the response cache uses.
      const cache = app.get(CacheService);
      const key = `__validate:${scratch}`;
      await cache.set(key, 'validate', { ttlSeconds: 60 });
      const read = await cache.get<string>(key);
      await cache.del(key);
      const gone = (await cache.get<string>(key)) === undefined;
      const invalidated = await cache.clearEndpoint('/__validate/:id');
      if (read === 'validate' && gone && invalidated === 0)
        line(true, 'cache', 'write, read and invalidate of a scratch entry, cleaned up');
      else fail('cache', `scratch entry: read=${read !== undefined} deleted=${gone} invalidated=${invalidated}`);
    } catch (error) {
      fail('cache', describe(error));
    }
  }
} finally {
  await app.close();
}
process.exit(failures > 0 ? 1 : 0);

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function redact(url: string): string {
  return url.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
