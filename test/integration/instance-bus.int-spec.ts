import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import {
  type BusDeliveryEvent,
  type BusStateEvent,
  DEFAULT_REDIS_CONNECTION,
  getRedisConnectionToken,
  hashId,
  type RedisConnection,
  RedisModule,
  type RedisModuleOptions,
  ShieldEvents,
} from 'nestjs-redis-shield';
import type { BusMessage } from '../../libs/nestjs-redis-shield/src/bus/engine/bus-message.js';
import { clusterSlot } from '../../libs/nestjs-redis-shield/src/bus/engine/cluster-slot.js';
import { type BusOrigin, InstanceBus } from '../../libs/nestjs-redis-shield/src/bus/store/instance-bus.js';
import { getInstanceBusToken } from '../../libs/nestjs-redis-shield/src/bus/nest/bus.constants.js';
import { freePort, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../harness/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/wait-for.js';

/** Short, so the bounds show within a test: a heartbeat every 250 ms. */
const STALE_AFTER_MS = 1000;
/** The spec's delivery bound while the bus is up. */
const DELIVERY_MS = 1000;
const SECRET = 'instance-bus-tests';

/** One application instance: its bus, what its handlers saw and the bus events it emitted. */
interface Instance {
  name: string;
  app: INestApplication;
  bus: InstanceBus;
  seen: { message: BusMessage; origin: BusOrigin }[];
  states: (BusStateEvent & { connected: boolean; lifetimeMs: number })[];
}

// Nest's Logger is process-wide: one capture for every app, told apart by connection name.
const logger = new CaptureLogger();

async function startInstance(name: string, redis: RedisModuleOptions): Promise<Instance> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      RedisModule.forRoot({
        ...redis,
        name,
        hashSecret: SECRET,
        maxReconnectDelayMs: 200,
        bus: { staleAfterMs: STALE_AFTER_MS },
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  const bus = app.get<InstanceBus>(getInstanceBusToken(name));
  const instance: Instance = { name, app, bus, seen: [], states: [] };
  app
    .get(ShieldEvents)
    .on('bus.state', (event) =>
      instance.states.push({ ...event, connected: bus.connected, lifetimeMs: bus.maxLocalLifetimeMs() }),
    );
  const record = (message: BusMessage, origin: BusOrigin) => void instance.seen.push({ message, origin });
  bus.on('ratelimit.reset', record);
  bus.on('cache.invalidate', record);
  return instance;
}

const reset = (id: string): BusMessage => ({ type: 'ratelimit.reset', client: hashId(SECRET, id) });
const received = (instance: Instance, message: BusMessage) =>
  instance.seen.some((entry) => !entry.origin.local && JSON.stringify(entry.message) === JSON.stringify(message));
/** What the Redis connection `name` logged (where outages are logged), debug lines left out. */
const connectionLog = (name: string) =>
  logger
    .of(`Redis:${name}`)
    .filter(({ level }) => level !== 'debug')
    .map(({ level, message }) => `${level} ${message.replace(/ \(.*/, '')}`);

/** What the bus of `name` logged, debug lines left out (they are not operator-facing). */
const busLog = (name: string) =>
  logger
    .of(`InstanceBus:${name}`)
    .filter(({ level }) => level !== 'debug')
    .map(({ level, message }) => `${level} ${message.replace(/ \(.*/, '')}`);

/** Publishes on `from` and waits until every other instance handled it. */
async function deliver(from: Instance, others: Instance[], message: BusMessage): Promise<void> {
  expect(await from.bus.publish(message)).toBe(true);
  await waitFor(() => others.every((other) => received(other, message)), DELIVERY_MS, 'delivery to every instance');
}

describe('instance bus (standalone Redis, three instances)', () => {
  let server: RedisServer;
  let a: Instance;
  let b: Instance;
  let c: Instance;

  beforeAll(async () => {
    server = await startRedis();
    // A rides on the default connection, B and C on named ones: each bus rides on the connection it is given.
    [a, b, c] = await Promise.all([
      startInstance(DEFAULT_REDIS_CONNECTION, { url: server.url }),
      startInstance('b', { url: server.url }),
      startInstance('c', { url: server.url }),
    ]);
    await waitFor(() => [a, b, c].every(({ bus }) => bus.connected), 5000, 'three subscribed buses');
  });

  afterAll(async () => {
    await server?.resume();
    await Promise.all([a, b, c].map((instance) => instance?.app.close()));
    await server?.stop();
  });

  it('is injectable by type for the default connection and uses one subscriber connection per instance', async () => {
    expect(a.app.get(InstanceBus)).toBe(a.bus);
    expect(a.bus.channel).toBe('bus:{instance}');
    const clients = String(await server.command('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    expect(clients.match(/name=nestjs-redis-shield:(default|b|c):bus /g)?.sort()).toEqual([
      'name=nestjs-redis-shield:b:bus ',
      'name=nestjs-redis-shield:c:bus ',
      'name=nestjs-redis-shield:default:bus ',
    ]);
    expect(await server.command('PUBSUB', 'NUMSUB', a.bus.channel)).toEqual([a.bus.channel, 3]);
  });

  it('delivers a message published on A to B and C within 1 s; A handles it at once and skips its echo', async () => {
    const first = reset('user:42');
    const published = a.bus.publish(first);
    // A's handlers ran before the publish even reached Redis.
    expect(a.seen).toEqual([{ message: first, origin: { from: a.bus.instanceId, local: true } }]);
    expect(await published).toBe(true);
    await waitFor(() => received(b, first) && received(c, first), DELIVERY_MS, 'delivery to B and C');
    expect(b.seen.at(-1)?.origin).toEqual({ from: a.bus.instanceId, local: false });
    // Pub/sub keeps order per channel: once B's next message reached A, A's echo came before it and was skipped.
    const second: BusMessage = { type: 'cache.invalidate', scope: 'route', value: 'GET /api/v1/models/:id' };
    await deliver(b, [a, c], second);
    expect(a.seen.map(({ message, origin }) => [message, origin.local])).toEqual([
      [first, true],
      [second, false],
    ]);
    expect(a.bus.stats()).toMatchObject({ published: 1, received: 1 });
  });

  it('measures the delivery lag of messages from other instances, clamping a sender clock ahead of ours to 0', async () => {
    const lags: BusDeliveryEvent[] = [];
    const off = b.app.get(ShieldEvents).on('bus.delivery', (event) => lags.push(event));
    const raw = new Redis(server.port, server.host, { lazyConnect: true });
    await raw.connect();
    try {
      const before = b.bus.stats().lag.measured;
      const sentAt = Date.now();
      await deliver(a, [b, c], reset('user:30'));
      const measured = b.bus.stats().lag;
      expect(measured.measured).toBe(before + 1);
      // One host, one clock: the lag is real and within the delivery bound.
      expect(measured.lastMs).toBeGreaterThanOrEqual(0);
      expect(measured.lastMs).toBeLessThanOrEqual(Date.now() - sentAt);
      expect(measured.maxMs).toBeGreaterThanOrEqual(measured.lastMs!);
      expect(lags).toEqual([{ connection: 'b', lagMs: measured.lastMs }]);
      // A sender whose clock runs a minute ahead: its message seems to arrive before it was sent.
      const ahead = reset('user:31');
      const skewed = JSON.stringify({ v: 1, from: 'skewed-sender-0001', at: Date.now() + 60_000, ...ahead });
      expect(await raw.publish(b.bus.channel, skewed)).toBe(3);
      await waitFor(() => received(b, ahead), DELIVERY_MS, 'the skewed message');
      expect(b.bus.stats().lag).toMatchObject({ measured: before + 2, lastMs: 0 });
      expect(lags.at(-1)).toEqual({ connection: 'b', lagMs: 0 });
      // A sender that predates the send time: delivered, not measured.
      const old = reset('user:32');
      expect(await raw.publish(b.bus.channel, JSON.stringify({ v: 1, from: 'older-sender-0001', ...old }))).toBe(3);
      await waitFor(() => received(b, old), DELIVERY_MS, 'the message without a send time');
      expect(b.bus.stats().lag.measured).toBe(before + 2);
    } finally {
      off();
      raw.disconnect();
    }
  });

  it('ignores garbage published raw on the channel, and a throwing handler breaks nothing', async () => {
    const throwing = c.bus.on('ratelimit.reset', () => {
      throw new Error('handler bug');
    });
    const rejecting = c.bus.on('ratelimit.reset', () => Promise.reject(new Error('async handler bug')));
    const raw = new Redis(server.port, server.host, { lazyConnect: true });
    await raw.connect();
    try {
      const from = 'attacker-0000000';
      const garbage = [
        'x'.repeat(5000),
        'not json',
        '{"v":1,',
        'null',
        JSON.stringify({ v: 1, from, type: 'ratelimit.reset', client: 'user:42' }),
        JSON.stringify({ v: 1, from, type: 'cache.invalidate', scope: 'user', value: 'alice@example.com' }),
        JSON.stringify({ v: 9, from, type: 'ratelimit.reset', client: hashId(SECRET, 'user:1') }),
        JSON.stringify({ v: 1, from, type: 'system.shutdown' }),
      ];
      for (const payload of garbage) expect(await raw.publish(a.bus.channel, payload)).toBe(3);
      // A valid message sent after the garbage arrives: nothing crashed, nothing was handled in between.
      const valid = reset('user:7');
      await deliver(a, [b, c], valid);
      expect(b.seen.filter(({ origin }) => origin.from === from)).toEqual([]);
      expect(b.bus.stats().ignored).toEqual({
        'too-large': 1,
        'not-json': 2,
        malformed: 1,
        'unknown-version': 1,
        'unknown-type': 1,
        invalid: 2,
      });
      expect(c.bus.stats().handlerErrors).toBeGreaterThanOrEqual(1);
      await waitFor(() => c.bus.stats().handlerErrors === 2, 1000, 'both handler failures counted');
      // At most one warning per interval, however many were ignored.
      expect(logger.of('InstanceBus:b').filter(({ message }) => message.startsWith('ignored'))).toHaveLength(1);
    } finally {
      throwing();
      rejecting();
      raw.disconnect();
    }
    expect(c.bus.connected).toBe(true);
    await deliver(c, [a, b], reset('user:8'));
  });

  it('a killed subscriber connection: connected goes false, old local state is bounded, it resubscribes, delivery resumes', async () => {
    const epoch = b.bus.epoch;
    const epochOfA = a.bus.epoch;
    expect(b.bus.maxLocalLifetimeMs(epoch)).toBe(Infinity);
    const statesBefore = b.states.length;
    const clients = String(await server.command('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    const id = /id=(\d+) [^\n]*name=nestjs-redis-shield:b:bus /.exec(clients)?.[1];
    expect(id).toBeDefined();
    expect(await server.command('CLIENT', 'KILL', 'ID', id!)).toBe(1);
    await waitFor(() => b.states.length >= statesBefore + 2 && b.bus.connected, 3000, 'B to resubscribe');
    expect(
      b.states.slice(statesBefore).map(({ state, connected, lifetimeMs }) => [state, connected, lifetimeMs]),
    ).toEqual([
      ['down', false, STALE_AFTER_MS],
      ['up', true, Infinity],
    ]);
    // State made before the outage may have missed a message: bounded even though the bus is back.
    expect(b.bus.epoch).toBe(epoch + 2);
    expect(b.bus.maxLocalLifetimeMs(epoch)).toBe(STALE_AFTER_MS);
    expect(b.bus.maxLocalLifetimeMs(b.bus.epoch)).toBe(Infinity);
    // The others never lost anything.
    expect(a.bus.epoch).toBe(epochOfA);
    await deliver(a, [b, c], reset('user:9'));
    await deliver(b, [a, c], reset('user:10'));
    expect(await server.command('PUBSUB', 'NUMSUB', a.bus.channel)).toEqual([a.bus.channel, 3]);
  });

  it('Redis killed and restarted: every bus goes down, publishing fails open at once, delivery resumes', async () => {
    await server.kill();
    await waitFor(() => [a, b, c].every(({ bus }) => !bus.connected), 2000, 'every bus down');
    for (const { bus } of [a, b, c]) expect(bus.maxLocalLifetimeMs()).toBe(STALE_AFTER_MS);
    const message = reset('user:11');
    const seenBefore = a.seen.length;
    expect(await a.bus.publish(message)).toBe(false);
    // Still applied locally.
    expect(a.seen.slice(seenBefore).map(({ message }) => message)).toEqual([message]);
    expect(a.bus.stats().publishFailed).toBeGreaterThanOrEqual(1);
    await server.restart();
    await waitFor(() => [a, b, c].every(({ bus }) => bus.connected), 5000, 'every bus back');
    // Publishing goes through the connection of requests, which reconnects on its own.
    const connection = c.app.get<RedisConnection>(getRedisConnectionToken('c'));
    await waitFor(() => connection.state === 'ready', 5000, "C's connection");
    await deliver(c, [a, b], reset('user:12'));
  });

  it('a stalled server (SIGSTOP): publish returns within its budget, the heartbeat notices, delivery resumes', async () => {
    await server.stall();
    try {
      const started = performance.now();
      expect(await a.bus.publish(reset('user:13'), { timeoutMs: 200 })).toBe(false);
      // The budget bounds the caller's wait; the bound is loose so a slow machine cannot fail it.
      expect(performance.now() - started).toBeLessThan(1500);
      // Nothing closed the connections: only the unanswered PING tells the buses Redis is gone.
      await waitFor(() => [a, b, c].every(({ bus }) => !bus.connected), 3 * STALE_AFTER_MS, 'the heartbeat');
      expect(b.states.at(-1)).toMatchObject({ state: 'down', reason: 'no answer to PING within 250 ms' });
    } finally {
      await server.resume();
    }
    await waitFor(() => [a, b, c].every(({ bus }) => bus.connected), 5000, 'every bus back');
    await deliver(b, [a, c], reset('user:14'));
  });

  it('stays quiet about outages the connection reports itself or that heal within a second', () => {
    // B: up, killed (back at once), Redis killed (the connection's to report), stalled (back within a second).
    expect(busLog('b')).toEqual(['warn ignored a message on bus:{instance}']);
  });

  it('a bus-only outage that lasts: one line when it starts, one when it ends, never one per retry', async () => {
    const admin = new Redis(server.url);
    try {
      const before = connectionLog('b').length;
      // No new connection is accepted: B's subscriber cannot come back while its connection stays ready.
      const connected = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1]);
      await admin.config('SET', 'maxclients', String(connected - 1));
      const clients = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
      const id = /id=(\d+) [^\n]*name=nestjs-redis-shield:b:bus /.exec(clients)?.[1];
      expect(await admin.client('KILL', 'ID', id!)).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(b.bus.connected).toBe(false);
      // Logged by B's connection, the one place its outages are logged (one line each way).
      expect(connectionLog('b').slice(before)).toEqual(['warn instance bus down']);
      await admin.config('SET', 'maxclients', '10000');
      await waitFor(() => b.bus.connected, 3000, 'B to resubscribe');
      expect(connectionLog('b').slice(before)).toEqual(['warn instance bus down', 'log ready']);
    } finally {
      await admin.config('SET', 'maxclients', '10000');
      await admin.quit();
    }
  });
});

describe('instance bus without Redis at start-up', () => {
  it('works (no-ops, connected=false), adds no log line to what the connection logs while Redis is absent, and connects once it appears', async () => {
    const port = await freePort();
    const late = await startInstance('late', { url: `redis://127.0.0.1:${port}` });
    let server: RedisServer | undefined;
    let other: Instance | undefined;
    try {
      expect(late.bus.connected).toBe(false);
      expect(late.bus.maxLocalLifetimeMs()).toBe(STALE_AFTER_MS);
      // Let it fail a few attempts (backoff 50, 100, 200 ms...): one line for all of them.
      await new Promise((resolve) => setTimeout(resolve, 600));
      // Redis is absent: the connection says so; the bus adds no line of its own.
      expect(busLog('late')).toEqual([]);
      expect(await late.bus.publish(reset('user:1'))).toBe(false);
      expect(late.seen).toHaveLength(1);
      server = await startRedis({ port });
      other = await startInstance('other', { url: server.url });
      await waitFor(() => late.bus.connected && other!.bus.connected, 5000, 'both buses subscribed');
      expect(late.states.map(({ state }) => state)).toEqual(['up']);
      await deliver(other, [late], reset('user:2'));
      expect(busLog('late')).toEqual(['warn could not publish']);
    } finally {
      await late.app.close();
      await other?.app.close();
      await server?.stop();
    }
  });

  it('with bus.enabled=false (forRootAsync): never subscribes, handlers still run locally, state is always bounded', async () => {
    const server = await startRedis();
    try {
      const moduleRef = await Test.createTestingModule({
        // Bus options come with the connection's, from any forRoot form.
        imports: [
          RedisModule.forRootAsync({
            useFactory: () => ({ url: server.url, hashSecret: SECRET, bus: { enabled: false, staleAfterMs: 700 } }),
          }),
        ],
      }).compile();
      const app = await moduleRef.createNestApplication({ logger: false }).init();
      const bus = app.get(InstanceBus);
      const seen: BusMessage[] = [];
      bus.on('ratelimit.reset', (message) => void seen.push(message));
      expect(await bus.publish(reset('user:1'))).toBe(false);
      expect(seen).toHaveLength(1);
      expect(bus.connected).toBe(false);
      expect(bus.maxLocalLifetimeMs()).toBe(700);
      expect(await server.command('PUBSUB', 'NUMSUB', bus.channel)).toEqual([bus.channel, 0]);
      await app.close();
    } finally {
      await server.stop();
    }
  });
});

describe('instance bus on a Redis Cluster (sharded pub/sub)', () => {
  let cluster: RedisCluster;
  const instances: Instance[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 1 });
    for (const name of ['ca', 'cb', 'cc']) instances.push(await startInstance(name, { clusterNodes: cluster.seeds }));
    await waitFor(() => instances.every(({ bus }) => bus.connected), 10_000, 'three subscribed buses');
  }, 30_000);

  afterAll(async () => {
    await Promise.all(instances.map(({ app }) => app.close()));
    await cluster?.stop();
  });

  it('subscribes with SSUBSCRIBE on the master owning the channel slot and delivers across instances', async () => {
    const [ca, cb, cc] = instances;
    const channel = ca.bus.channel;
    const masters = await cluster.masters();
    expect(await masters[0].command('CLUSTER', 'KEYSLOT', channel)).toBe(clusterSlot(channel));
    const counts = await Promise.all(
      masters.map(async (node) => (await node.command('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number]),
    );
    // All three subscribers on one node (the owner: a non-owner refuses SSUBSCRIBE), none on the others.
    expect(counts.map(([, count]) => count).sort()).toEqual([0, 0, 3]);
    await deliver(ca, [cb, cc], reset('user:1'));
    await deliver(cc, [ca, cb], { type: 'cache.invalidate', scope: 'all' });
  });

  it("follows the channel's slot to the promoted replica when its master dies", async () => {
    const [ca, cb, cc] = instances;
    const channel = ca.bus.channel;
    const owner = await ownerOf(channel);
    await owner.kill();
    await waitFor(() => instances.every(({ bus }) => !bus.connected), 3000, 'every bus down');
    // Redis promotes the replica after cluster-node-timeout (1 s); each bus finds the new owner in the slot map.
    await waitFor(() => instances.every(({ bus }) => bus.connected), 15_000, 'every bus on the new owner');
    const promoted = await ownerOf(channel);
    expect(promoted.port).not.toBe(owner.port);
    expect(await promoted.command('PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 3]);
    const connection = cb.app.get<RedisConnection>(getRedisConnectionToken('cb'));
    await waitFor(() => connection.state === 'ready', 5000, "B's Cluster connection");
    await deliver(cb, [ca, cc], reset('user:2'));
  }, 30_000);

  /** The master serving the channel's slot, as a running master sees it now (CLUSTER SLOTS). */
  async function ownerOf(channel: string): Promise<RedisServer> {
    const slot = clusterSlot(channel);
    const [asked] = await cluster.masters();
    const ranges = (await asked.command('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const port = ranges.find(([first, last]) => first <= slot && slot <= last)?.[2][1];
    const owner = cluster.nodes.find((node) => node.port === port);
    if (!owner) throw new Error(`no master serves slot ${slot}`);
    return owner;
  }
});
