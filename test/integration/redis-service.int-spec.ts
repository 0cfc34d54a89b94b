import { Test } from '@nestjs/testing';
import {
  RedisCommandError,
  RedisJsonError,
  RedisModule,
  type RedisModuleOptions,
  RedisService,
} from 'nestjs-redis-shield';
import type { INestApplication } from '@nestjs/common';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../harness/index.js';

let server: RedisServer;
let cluster: RedisCluster;

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

describe.each<[string, () => RedisModuleOptions]>([
  ['standalone', () => ({ url: server.url })],
  ['cluster', () => ({ clusterNodes: cluster.seeds })],
])('RedisService on %s', (_name, options) => {
  let app: INestApplication;
  let redis: RedisService;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ ...options(), keyPrefix: 'svc:', hashSecret: 's', commandTimeoutMs: 2000 })],
    }).compile();
    app = await moduleRef.createNestApplication().init();
    redis = app.get(RedisService);
    const until = Date.now() + 5000;
    while (redis.connection.state !== 'ready' && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  });

  afterAll(async () => {
    await app?.close();
  });

  it('get / set with a TTL / ttl / expire / exists / del', async () => {
    expect(await redis.get('missing')).toBeNull();
    await redis.set('a', 'one', { ttlSeconds: 100 });
    expect(await redis.get('a')).toBe('one');
    expect(await redis.ttl('a')).toBeGreaterThan(95);
    expect(await redis.client.pttl('svc:a')).toBeGreaterThan(95_000);
    await redis.set('forever', 1);
    expect(await redis.ttl('forever')).toBe(-1);
    expect(await redis.expire('forever', 5)).toBe(true);
    expect(await redis.ttl('forever')).toBeGreaterThan(3);
    expect(await redis.expire('missing', 5)).toBe(false);
    expect(await redis.exists('a')).toBe(true);
    expect(await redis.del(['a', 'forever', 'missing'])).toBe(2);
    expect(await redis.exists('a')).toBe(false);
    expect(await redis.ttl('a')).toBe(-2);
    await expect(redis.set('bad', 'x', { ttlSeconds: 0 })).rejects.toThrow(RangeError);
  });

  it('incr / incrBy', async () => {
    expect(await redis.incr('counter')).toBe(1);
    expect(await redis.incrBy('counter', 41)).toBe(42);
    await redis.del('counter');
  });

  it('getJson / setJson, with typed errors naming the key', async () => {
    await redis.setJson('data', { key: 'value', n: [1, 2] }, { ttlSeconds: 300 });
    expect(await redis.getJson('data')).toEqual({ key: 'value', n: [1, 2] });
    expect(await redis.getJson('nothing')).toBeNull();
    await redis.set('not-json', '{oops', { ttlSeconds: 30 });
    const parseError = await redis.getJson('not-json').catch((error: unknown) => error);
    expect(parseError).toBeInstanceOf(RedisJsonError);
    expect(parseError).toMatchObject({ key: 'not-json', operation: 'parse' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(redis.setJson('cyclic', cyclic)).rejects.toMatchObject({ key: 'cyclic', operation: 'serialise' });
    await expect(redis.setJson('fn', () => 1)).rejects.toThrow(/Value for key 'fn' cannot be serialised/);
    await expect(redis.setJson('big', { n: 1n })).rejects.toBeInstanceOf(RedisJsonError);
  });

  it('turns a command error into RedisCommandError without opening the breaker', async () => {
    await redis.set('str', 'x', { ttlSeconds: 30 });
    for (let i = 0; i < 5; i++) await expect(redis.incr('str')).rejects.toBeInstanceOf(RedisCommandError);
    expect(redis.connection.state).toBe('ready');
    expect(await redis.get('str')).toBe('x');
  });

  it('scans every master, with the prefix applied and stripped', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `scan:${i}`);
    await Promise.all(keys.map((key) => redis.set(key, '1', { ttlSeconds: 60 })));
    await redis.client.set('elsewhere:scan:1', '1', 'EX', 60); // outside the prefix
    const seen: string[] = [];
    for await (const key of redis.scan('scan:*', { count: 10 })) seen.push(key);
    expect(seen.sort()).toEqual([...keys].sort());
  });

  it('runs a registered script, also after SCRIPT FLUSH (NOSCRIPT reload)', async () => {
    const run = redis.defineScript<number>('incr_twice', "return redis.call('INCRBY', KEYS[1], 2 * ARGV[1])");
    expect(await run(['script-counter'], [1])).toBe(2);
    const masters = 'nodes' in redis.client ? redis.client.nodes('master') : [redis.client];
    await Promise.all(masters.map((node) => node.script('FLUSH')));
    expect(await run(['script-counter'], [2])).toBe(6);
    expect(await redis.get('script-counter')).toBe('6');
  });
});
