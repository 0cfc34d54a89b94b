import {
  ManualClock,
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
  type RedisModuleOptions,
} from 'nestjs-redis-shield';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../../harness/index.js';
import { type LimiterApp, startLimiter } from './setup.js';

const LIMIT = 50;
const REQUESTS = 200;
const INSTANCES = 3;

let server: RedisServer;
let cluster: RedisCluster;

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

/** Starts separate Nest apps (each with its own connection) sharing one Redis. */
async function instances(
  redis: RedisModuleOptions,
  algorithm: RateLimitAlgorithmName,
  windowMs: number,
  clock?: ManualClock,
) {
  const policies = { exact: { algorithm, tiers: { window: { limit: LIMIT, windowMs } } } };
  return Promise.all(Array.from({ length: INSTANCES }, () => startLimiter(redis, { policies, clock })));
}

/** Fires REQUESTS concurrent consumes for one client, spread round-robin over the apps. */
async function flood(apps: LimiterApp[], client: string): Promise<number> {
  const results = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) => apps[i % apps.length].service.consume(client, 'exact')),
  );
  return results.filter((result) => result.allowed).length;
}

async function connectionsNamed(redis: RedisServer | RedisCluster): Promise<number> {
  const nodes = 'nodes' in redis ? redis.nodes : [redis];
  let count = 0;
  for (const node of nodes) {
    const list = String(await node.command('CLIENT', 'LIST'));
    count += list.split('\n').filter((line) => line.includes('name=nestjs-redis-shield:default')).length;
  }
  return count;
}

describe.each<[string, () => RedisModuleOptions, () => RedisServer | RedisCluster]>([
  ['standalone', () => ({ url: server.url }), () => server],
  ['cluster', () => ({ clusterNodes: cluster.seeds }), () => cluster],
])('exactness on %s', (_name, redisOptions, redis) => {
  it.each(RATE_LIMIT_ALGORITHMS)(
    '%s: clock pinned, 200 concurrent requests over 3 instances admit exactly 50',
    async (algorithm) => {
      const clock = new ManualClock(Date.parse('2031-06-01T12:00:00.123Z'));
      const apps = await instances(redisOptions(), algorithm, 60_000, clock);
      try {
        expect(new Set(apps.map((app) => app.connection.client)).size).toBe(INSTANCES);
        expect(await connectionsNamed(redis())).toBeGreaterThanOrEqual(INSTANCES);
        expect(await flood(apps, `user:exact-${algorithm}`)).toBe(LIMIT);
        // And nothing more trickles in later at the same instant.
        expect(await flood(apps, `user:exact-${algorithm}`)).toBe(0);
      } finally {
        await Promise.all(apps.map((app) => app.close()));
      }
    },
  );

  it.each<RateLimitAlgorithmName>(['fixed-window', 'sliding-window'])(
    '%s with Redis TIME and a 1-hour window admits exactly 50',
    async (algorithm) => {
      // Stay clear of an hour boundary (where a fresh window would legitimately open).
      const msIntoHour = Date.now() % 3_600_000;
      if (msIntoHour > 3_600_000 - 5_000)
        await new Promise((resolve) => setTimeout(resolve, 3_600_000 - msIntoHour + 50));
      const apps = await instances(redisOptions(), algorithm, 3_600_000);
      try {
        expect(await flood(apps, `user:exact-time-${algorithm}-${Date.now()}`)).toBe(LIMIT);
      } finally {
        await Promise.all(apps.map((app) => app.close()));
      }
    },
    20_000,
  );
});
