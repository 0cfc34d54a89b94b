import type { INestApplication } from '@nestjs/common';
import {
  type Clock,
  ManualClock,
  MemoryRateLimitStore,
  type PolicyDefinition,
  RateLimitModule,
  type RateLimitModuleOptions,
  RateLimitService,
  RateLimitStore,
  type RedisConnection,
  type RedisModuleOptions,
} from 'nestjs-redis-shield';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../../harness/index.js';
import { startRedisApp } from '../support/redis-app.js';

/** A Nest app with a Redis connection and the rate-limit module, as a user would wire it. */
export interface LimiterApp {
  app: INestApplication;
  service: RateLimitService;
  store: RateLimitStore;
  connection: RedisConnection;
  close(): Promise<void>;
}

/** Boots a limiter on `redis` (connection options) with the given policies and clock. */
export async function startLimiter(
  redis: RedisModuleOptions,
  options: {
    policies?: Record<string, PolicyDefinition>;
    clock?: Clock;
    defaultTiers?: PolicyDefinition['tiers'];
    /** Any other module option (`failMode`, `localBlockCache`, ...). */
    limits?: RateLimitModuleOptions;
  } = {},
): Promise<LimiterApp> {
  const { app, connection } = await startRedisApp(
    { hashSecret: 'rate-limit-tests', commandTimeoutMs: 2000, ...redis, clock: options.clock },
    [RateLimitModule.forRoot({ ...options.limits, policies: options.policies, defaultTiers: options.defaultTiers })],
  );
  return {
    app,
    service: app.get(RateLimitService),
    store: app.get<RateLimitStore>(RateLimitStore),
    connection,
    close: () => app.close(),
  };
}

/** One store under test: the in-memory store, or the Redis store on a standalone server or a Cluster. */
export interface StoreTarget {
  name: 'memory' | 'redis' | 'cluster';
  store: RateLimitStore;
  clock: ManualClock;
  /** The Redis connection of the Redis stores. */
  connection?: RedisConnection;
}

/**
 * The same stores for every test of a file, each on its own manual clock starting at `t0`:
 * memory, Redis standalone and Redis Cluster (their servers started before the tests and
 * stopped after them). The returned array fills in `beforeAll`.
 */
export function storeTargets(t0: number): StoreTarget[] {
  let server: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  const apps: LimiterApp[] = [];
  const targets: StoreTarget[] = [];
  beforeAll(async () => {
    [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
    const memoryClock = new ManualClock(t0);
    targets.push({ name: 'memory', store: new MemoryRateLimitStore({ clock: memoryClock }), clock: memoryClock });
    for (const [name, options] of [
      ['redis', { url: server.url }],
      ['cluster', { clusterNodes: cluster.seeds }],
    ] as const) {
      const clock = new ManualClock(t0);
      const limiter = await startLimiter(options, { clock });
      apps.push(limiter);
      targets.push({ name, store: limiter.store, clock, connection: limiter.connection });
    }
  }, 30_000);
  afterAll(async () => {
    for (const target of targets) if (target.store instanceof MemoryRateLimitStore) target.store.close();
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all([server?.stop(), cluster?.stop()]);
  });
  return targets;
}
