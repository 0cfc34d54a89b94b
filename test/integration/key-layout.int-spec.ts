import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RedisConnection, RedisModule, RedisService } from 'nestjs-redis-shield';
import {
  type RedisCluster,
  type RedisServer,
  type RespProxy,
  startRedis,
  startRedisCluster,
  startRespProxy,
} from '../harness/index.js';
import { waitFor } from '../support/wait-for.js';

const PREFIX = 'tenant*1:';
const CLIENT_IP = '203.0.113.7';

describe('key layout', () => {
  let server: RedisServer;
  let cluster: RedisCluster;
  let proxy: RespProxy;

  beforeAll(async () => {
    [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
    proxy = await startRespProxy(server);
  });

  afterAll(async () => {
    await proxy?.close();
    await Promise.all([server?.stop(), cluster?.stop()]);
  });

  async function boot(options: Parameters<typeof RedisModule.forRoot>[0]): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot(options)] }).compile();
    const app = await moduleRef.createNestApplication().init();
    await waitFor(() => app.get(RedisConnection).state === 'ready', 5000, 'the connection');
    return app;
  }

  it('applies the prefix to every key a command names, SCAN patterns included', async () => {
    const app = await boot({ url: proxy.url, keyPrefix: PREFIX, hashSecret: 's' });
    const redis = app.get(RedisService);
    proxy.reset();
    await redis.set('a', '1', { ttlSeconds: 10 });
    await redis.get('a');
    await redis.setJson('b', { x: 1 }, { ttlSeconds: 10 });
    await redis.incr('c');
    await redis.expire('c', 10);
    await redis.ttl('c');
    await redis.exists('a');
    await redis.del(['a', 'b', 'c']);
    const run = redis.defineScript<number>('layout_touch', "return redis.call('EXISTS', KEYS[1], KEYS[2])");
    await run(['x', 'y'], []);
    for await (const key of redis.scan('*')) void key;

    const named = proxy.commands.flatMap((command) => proxy.keysOf(command));
    expect(named.length).toBeGreaterThanOrEqual(12);
    expect(named.filter((key) => !key.startsWith(PREFIX))).toEqual([]);
    const scans = proxy.commands.filter((command) => command.name === 'SCAN');
    expect(scans.length).toBeGreaterThan(0);
    for (const scan of scans) {
      const match = scan.args[scan.args.findIndex((arg) => arg.toUpperCase() === 'MATCH') + 1];
      expect(match).toBe('tenant\\*1:*'); // the prefix's own * matches literally
    }
    await app.close();
  });

  it('puts all rate-limit keys of one client in one hash slot, with no raw id in them', async () => {
    const app = await boot({ clusterNodes: cluster.seeds, keyPrefix: PREFIX, hashSecret: 's' });
    const { keys, client } = app.get(RedisConnection);
    const clientKeys = ['minute', 'hour', 'burst', 'policy:completions'].map((part) =>
      keys.rateLimit(`ip:${CLIENT_IP}`, part),
    );
    const slots = new Set<number>();
    for (const key of clientKeys) {
      expect(key.startsWith(`${PREFIX}rate_limit:`)).toBe(true);
      expect(key).not.toContain(CLIENT_IP);
      slots.add(Number(await cluster.nodes[0].command('CLUSTER', 'KEYSLOT', key)));
    }
    expect(slots.size).toBe(1);
    // A multi-key script over one client's keys runs on a Cluster (no CROSSSLOT).
    const run = app
      .get(RedisService)
      .connection.defineScript<number>(
        'layout_multi',
        "for i, k in ipairs(KEYS) do redis.call('SET', k, 1, 'PX', 10000) end return #KEYS",
      );
    expect(await run(clientKeys, [])).toBe(4);
    expect(await client.pttl(clientKeys[0])).toBeGreaterThan(0);
    // Other clients spread over slots.
    const otherSlots = new Set<number>();
    for (let i = 0; i < 20; i++) {
      otherSlots.add(Number(await cluster.nodes[0].command('CLUSTER', 'KEYSLOT', keys.rateLimit(`ip:10.0.0.${i}`))));
    }
    expect(otherSlots.size).toBeGreaterThan(10);
    await app.close();
  });
});
