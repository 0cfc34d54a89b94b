import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Cluster, Redis } from 'ioredis';
import {
  getRedisConnectionToken,
  InjectRedis,
  type RedisModuleOptions,
  RedisModule,
  RedisService,
} from 'nestjs-redis-shield';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../harness/index.js';

interface Topology {
  name: string;
  options: () => RedisModuleOptions;
  client: () => Redis | Cluster;
}

let server: RedisServer;
let cluster: RedisCluster;

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

const topologies: Topology[] = [
  {
    name: 'standalone',
    options: () => ({ url: server.url, hashSecret: 'int-secret' }),
    client: () => new Redis({ host: server.host, port: server.port, enableOfflineQueue: false }),
  },
  {
    name: 'cluster',
    options: () => ({ clusterNodes: cluster.seeds, hashSecret: 'int-secret' }),
    client: () => new Cluster(cluster.seeds),
  },
];

@Injectable()
class OptionsFactory {
  static options: RedisModuleOptions;
  createRedisOptions(): RedisModuleOptions {
    return OptionsFactory.options;
  }
}

@Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
class OptionsModule {}

/** Boots a module, round-trips a value through the default RedisService, closes it. */
async function roundTrip(imports: unknown[], key: string): Promise<RedisService> {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[] }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  const redis = app.get(RedisService);
  await waitReady(redis);
  await redis.set(key, 'v', { ttlSeconds: 30 });
  expect(await redis.get(key)).toBe('v');
  await app.close();
  return redis;
}

async function waitReady(redis: RedisService): Promise<void> {
  const deadline = Date.now() + 5000;
  while (redis.connection.state !== 'ready') {
    if (Date.now() > deadline) throw new Error('connection never became ready');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(topologies)('RedisModule on $name', (topology) => {
  it('forRoot', async () => {
    await roundTrip([RedisModule.forRoot(topology.options())], 'forRoot');
  });

  it('forRootAsync with useFactory and inject', async () => {
    OptionsFactory.options = topology.options();
    await roundTrip(
      [
        RedisModule.forRootAsync({
          imports: [OptionsModule],
          inject: [OptionsFactory],
          useFactory: (factory: OptionsFactory) => ({ ...factory.createRedisOptions(), keyPrefix: 'factory:' }),
        }),
      ],
      'useFactory',
    );
  });

  it('forRootAsync with useClass', async () => {
    OptionsFactory.options = topology.options();
    await roundTrip([RedisModule.forRootAsync({ useClass: OptionsFactory })], 'useClass');
  });

  it('forRootAsync with useExisting', async () => {
    OptionsFactory.options = topology.options();
    await roundTrip(
      [RedisModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory })],
      'useExisting',
    );
  });

  it('a named second connection, injected with @InjectRedis(name)', async () => {
    @Injectable()
    class UsesBoth {
      constructor(
        readonly main: RedisService,
        @InjectRedis('second') readonly second: RedisService,
      ) {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        RedisModule.forRoot({ ...topology.options(), keyPrefix: 'main:' }),
        RedisModule.forRoot({ ...topology.options(), name: 'second', keyPrefix: 'second:' }),
      ],
      providers: [UsesBoth],
    }).compile();
    const app = await moduleRef.createNestApplication().init();
    const { main, second } = app.get(UsesBoth);
    expect(main.connection).not.toBe(second.connection);
    expect(second.connection.name).toBe('second');
    expect(app.get(getRedisConnectionToken('second'))).toBe(second.connection);
    await Promise.all([waitReady(main), waitReady(second)]);
    await main.set('k', 'from-main', { ttlSeconds: 30 });
    await second.set('k', 'from-second', { ttlSeconds: 30 });
    expect(await main.get('k')).toBe('from-main');
    expect(await second.get('k')).toBe('from-second');
    await app.close();
    expect(main.client.status).toBe('end');
    expect(second.client.status).toBe('end');
  });

  it('a passed-in client is used and not closed on shutdown', async () => {
    const client = topology.client();
    try {
      const redis = await roundTrip([RedisModule.forRoot({ client, hashSecret: 'int-secret' })], 'passed-in');
      expect(redis.client).toBe(client);
      expect(client.status).toBe('ready');
      expect(await client.get('passed-in')).toBe('v');
    } finally {
      client.disconnect();
    }
  });

  it('closes the clients it created on application shutdown', async () => {
    const redis = await roundTrip([RedisModule.forRoot(topology.options())], 'closed');
    expect(redis.client.status).toBe('end');
  });
});

describe('RedisModule options', () => {
  it('refuses braces in the key prefix at start-up', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'bad{' })],
    })
      .compile()
      .catch((error: unknown) => error);
    expect(String(moduleRef)).toMatch(/keyPrefix="bad\{": expected no \{ or \}/);
  });
});
