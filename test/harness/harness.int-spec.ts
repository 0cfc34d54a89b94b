import { once } from 'node:events';
import { connect, createConnection, Socket } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import {
  encodeCommand,
  FORBIDDEN_PORT_MESSAGE,
  freePort,
  isPortFree,
  keysOf,
  RespCommandParser,
  sendCommand,
  startRedis,
  startRedisCluster,
  startRespProxy,
  type RedisCluster,
  type RedisServer,
  type RespProxy,
} from './index.js';

describe('freePort', () => {
  it('hands out distinct free ports, never 6379, with the extra ports free as well', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort({ alsoFree: (p) => [p + 10000] })));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).not.toBe(6379);
      expect(port + 10000).toBeLessThanOrEqual(65535);
      expect(await isPortFree(port)).toBe(true);
      expect(await isPortFree(port + 10000)).toBe(true);
    }
  });
});

describe('startRedis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  it('answers commands on loopback, with nothing persisted', async () => {
    expect(redis.host).toBe('127.0.0.1');
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redis.command('PING')).toBe('PONG');
    expect(await redis.command('SET', 'k', 'v')).toBe('OK');
    expect(await redis.command('GET', 'k')).toBe('v');
    expect(await redis.command('GET', 'missing')).toBeNull();
    expect(await redis.command('INCR', 'n')).toBe(1);
    expect(await redis.command('CONFIG', 'GET', 'save')).toEqual(['save', '']);
    expect(await redis.command('INFO', 'server')).toContain(`process_id:${redis.pid}`);
    await expect(redis.command('NO-SUCH-COMMAND')).rejects.toThrow(/unknown command/);
  });

  it('stall() leaves a PING unanswered until resume()', async () => {
    await redis.stall();
    await redis.stall();
    expect(redis.stalled).toBe(true);
    await expect(sendCommand(redis, ['PING'], 300)).rejects.toThrow('within 300 ms');
    const answeredAfterResume = sendCommand(redis, ['PING'], 2000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await redis.resume();
    await redis.resume();
    expect(redis.stalled).toBe(false);
    expect(await answeredAfterResume).toBe('PONG');
  });

  it('kill() refuses connections, even when stalled; restart() brings back an empty server on the same port', async () => {
    await redis.command('SET', 'before', 'kill');
    const { port, pid } = redis;
    await redis.stall();
    await redis.kill();
    await redis.kill();
    expect(redis.running).toBe(false);
    await expect(sendCommand(redis, ['PING'], 1000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await redis.restart();
    expect(redis.port).toBe(port);
    expect(redis.pid).not.toBe(pid);
    expect(await redis.command('PING')).toBe('PONG');
    expect(await redis.command('DBSIZE')).toBe(0);
  });

  it('passes extra arguments and reports a failed start with the output of redis-server', async () => {
    const other = await startRedis({ args: ['--maxmemory', '10mb'] });
    try {
      expect(await other.command('CONFIG', 'GET', 'maxmemory')).toEqual(['maxmemory', String(10 * 1024 * 1024)]);
      await expect(startRedis({ port: other.port })).rejects.toMatchObject({
        code: 'EADDRINUSE',
        message: expect.stringContaining('Address already in use'),
      });
    } finally {
      await other.stop();
    }
    await expect(startRedis({ args: ['--no-such-directive', 'x'] })).rejects.toThrow(/exited[\s\S]*no-such-directive/);
    await expect(startRedis({ port: 6379 })).rejects.toThrow(FORBIDDEN_PORT_MESSAGE);
  });

  it('stop() is idempotent, works while stalled and leaves no process behind', async () => {
    const server = await startRedis();
    await server.stall();
    await Promise.all([server.stop(), server.stop()]);
    expect(() => process.kill(server.pid, 0)).toThrow();
    await expect(server.restart()).rejects.toThrow('was stopped');
  });
});

describe('startRespProxy', () => {
  let redis: RedisServer;
  let proxy: RespProxy;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startRespProxy(redis);
    client = new Redis(proxy.port, proxy.host, { lazyConnect: true });
    await client.connect();
  });
  afterAll(async () => {
    client.disconnect();
    await proxy.close();
    await redis.stop();
  });
  beforeEach(() => proxy.reset());

  it('records exactly the commands a client sends, not those its Lua script runs', async () => {
    const startedAt = Date.now();
    await client.set('user:1', 'a');
    expect(await client.get('user:1')).toBe('a');
    await client.pipeline().incr('n').incrby('n', 2).hset('h', 'f', 'v').exec();
    const fiveCalls = "for i = 1, 4 do redis.call('INCR', KEYS[1]) end return redis.call('GET', KEYS[1])";
    expect(await client.eval(fiveCalls, 2, 'counter', 'other', 'arg')).toBe('4');

    expect(proxy.names()).toEqual(['SET', 'GET', 'INCR', 'INCRBY', 'HSET', 'EVAL']);
    expect(proxy.count()).toBe(6);
    expect(proxy.count('eval')).toBe(1);
    expect(proxy.count('INCR')).toBe(1);
    expect(proxy.commands[0]).toMatchObject({ name: 'SET', args: ['user:1', 'a'] });
    expect(new Set(proxy.commands.map((command) => command.connection)).size).toBe(1);
    expect(proxy.commands.every(({ at }) => at >= startedAt && at <= Date.now())).toBe(true);
    expect(proxy.commands.map((command) => proxy.keysOf(command))).toEqual([
      ['user:1'],
      ['user:1'],
      ['n'],
      ['n'],
      ['h'],
      ['counter', 'other'],
    ]);
  });

  it('keysOf() knows where common commands keep their keys', () => {
    const keys = (name: string, ...args: string[]) => keysOf({ name, args });
    expect(keys('DEL', 'a', 'b')).toEqual(['a', 'b']);
    expect(keys('unlink', 'a')).toEqual(['a']);
    expect(keys('MGET', 'a', 'b', 'c')).toEqual(['a', 'b', 'c']);
    expect(keys('EXPIRE', 'a', '10')).toEqual(['a']);
    expect(keys('ZADD', 'z', '1', 'm')).toEqual(['z']);
    expect(keys('HSCAN', 'h', '0', 'COUNT', '500')).toEqual(['h']);
    expect(keys('XADD', 's', '*', 'f', 'v')).toEqual(['s']);
    expect(keys('MSET', 'a', '1', 'b', '2')).toEqual(['a', 'b']);
    expect(keys('EVALSHA', 'sha', '1', 'k', 'arg')).toEqual(['k']);
    expect(keys('FCALL', 'fn', '0', 'arg')).toEqual([]);
    expect(keys('PING')).toEqual([]);
  });

  it('splits pipelined commands sent in one write, inline ones included', async () => {
    const socket = connect(proxy.port, proxy.host);
    let replies = '';
    socket.on('data', (chunk: Buffer) => (replies += chunk.toString()));
    const sets = Array.from({ length: 500 }, (_, i) => encodeCommand(['SET', `key:${i}`, `value ${i}`]));
    socket.write(sets.join('') + 'PING\r\n');
    while (!replies.endsWith('+PONG\r\n')) await once(socket, 'data');
    socket.destroy();

    expect(replies).toBe('+OK\r\n'.repeat(500) + '+PONG\r\n');
    expect(proxy.count('SET')).toBe(500);
    expect(proxy.commands[499]).toMatchObject({ name: 'SET', args: ['key:499', 'value 499'] });
    expect(proxy.names().at(-1)).toBe('PING');
  });

  it('records a large value that crosses many TCP chunks', async () => {
    const big = 'é'.repeat(1_000_000) + 'end';
    await client.set('big', big);
    expect(await client.strlen('big')).toBe(Buffer.byteLength(big));
    expect(proxy.names()).toEqual(['SET', 'STRLEN']);
    expect(proxy.commands[0].args[1] === big).toBe(true);
  });

  it('RespCommandParser gives the same commands however the bytes are chunked', () => {
    const wire = Buffer.from(
      encodeCommand(['SET', 'k', 'line\r\nbreak é']) + 'PING\r\n' + encodeCommand(['MGET', 'a', 'b']) + '\r\n',
    );
    for (const size of [1, 2, 3, 5, 7, 64, wire.length]) {
      const parser = new RespCommandParser();
      const commands: string[][] = [];
      for (let at = 0; at < wire.length; at += size) commands.push(...parser.push(wire.subarray(at, at + size)));
      expect(commands).toEqual([['SET', 'k', 'line\r\nbreak é'], ['PING'], ['MGET', 'a', 'b']]);
    }
  });

  it('holds bytes while the server is stalled and closes clients when it dies', async () => {
    const server = await startRedis();
    const stallable = await startRespProxy(server);
    try {
      await server.stall();
      await expect(sendCommand(stallable, ['PING'], 300)).rejects.toThrow('within 300 ms');
      const pending = sendCommand(stallable, ['PING'], 2000);
      await server.resume();
      expect(await pending).toBe('PONG');
      expect(stallable.names()).toEqual(['PING', 'PING']);

      const socket = createConnection(stallable.port, stallable.host);
      await once(socket, 'connect');
      const closed = once(socket, 'close');
      await server.kill();
      await closed;
      await expect(sendCommand(stallable, ['PING'], 1000)).rejects.toThrow('closed the connection');
    } finally {
      await stallable.close();
      await server.stop();
    }
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisCluster;
  let joinedByCommands: RedisCluster;
  beforeAll(async () => {
    const started = await Promise.allSettled([
      startRedisCluster(),
      startRedisCluster({ masters: 2, replicasPerMaster: 1, via: 'commands' }),
    ]);
    const clusters = started.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
    [cluster, joinedByCommands] = clusters as RedisCluster[];
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      await Promise.all(clusters.map((started) => started?.stop()));
      throw failed.reason;
    }
  }, 30_000);
  afterAll(() => Promise.all([cluster?.stop(), joinedByCommands?.stop()]));

  it('is ready, and an ioredis Cluster client reaches keys on every master', async () => {
    for (const node of cluster.nodes) expect(await node.command('CLUSTER', 'INFO')).toContain('cluster_state:ok');
    const masters = await cluster.masters();
    expect(masters.map((node) => node.port).sort()).toEqual(cluster.nodes.map((node) => node.port).sort());
    const [node] = cluster.nodes;
    expect(await node.command('CLUSTER', 'KEYSLOT', '{a}x')).toBe(await node.command('CLUSTER', 'KEYSLOT', '{a}y'));

    const client = new Cluster(cluster.seeds);
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
      for (const key of keys) await client.set(key, `value of ${key}`);
      for (const key of keys) expect(await client.get(key)).toBe(`value of ${key}`);
      const sizes = await Promise.all(masters.map((master) => master.command('DBSIZE')));
      expect(sizes.every((size) => Number(size) > 0)).toBe(true);
      expect(sizes.reduce((sum: number, size) => sum + Number(size), 0)).toBe(keys.length);
    } finally {
      client.disconnect();
    }
  });

  it('joins nodes with plain commands too, replicas included, and a restarted node rejoins', async () => {
    expect(joinedByCommands.nodes).toHaveLength(4);
    expect(await joinedByCommands.masters()).toHaveLength(2);
    const replicas = await joinedByCommands.replicas();
    expect(replicas).toHaveLength(2);
    for (const master of await joinedByCommands.masters()) {
      expect(await master.command('INFO', 'replication')).toContain('connected_slaves:1');
    }
    await replicas[0].restart();
    await joinedByCommands.waitUntilReady(10_000);
    expect(await joinedByCommands.replicas()).toContain(replicas[0]);
  });
});

describe('forbid-default-redis (jest setup file)', () => {
  it('makes ioredis fail to connect to port 6379 with our message', async () => {
    const client = new Redis({ port: 6379, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    const emitted: string[] = [];
    client.on('error', (error: Error) => emitted.push(error.message));
    await expect(client.connect()).rejects.toThrow(FORBIDDEN_PORT_MESSAGE);
    expect(emitted.every((message) => message === FORBIDDEN_PORT_MESSAGE)).toBe(true);
    client.disconnect();
  });

  it('catches every net call form, whatever the host', () => {
    expect(() => connect(6379)).toThrow(FORBIDDEN_PORT_MESSAGE);
    expect(() => connect(6379, 'localhost')).toThrow(FORBIDDEN_PORT_MESSAGE);
    expect(() => createConnection({ host: '192.0.2.1', port: 6379 })).toThrow(FORBIDDEN_PORT_MESSAGE);
    expect(() => new Socket().connect({ port: 6379 })).toThrow(FORBIDDEN_PORT_MESSAGE);
    expect(() => new Socket().connect(6379, '::1')).toThrow(FORBIDDEN_PORT_MESSAGE);
  });

  it('wraps the original connect once', () => {
    const original = (Socket.prototype as unknown as Record<symbol, unknown>)[
      Symbol.for('nestjs-redis-shield.test-harness.original-socket-connect')
    ];
    expect(typeof original).toBe('function');
    expect(Socket.prototype.connect).not.toBe(original);
  });
});
