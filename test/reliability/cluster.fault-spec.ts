import type { INestApplication } from '@nestjs/common';
import { Agent, get as httpGet } from 'node:http';
import { RedisConnection, ShieldEvents } from 'nestjs-redis-shield';
import { type KeyBuilder } from '../../libs/nestjs-redis-shield/src/redis/engine/key-builder.js';
import { type RedisCluster, type RedisServer, startRedisCluster } from '../harness/index.js';
import { waitFor } from '../support/wait-for.js';
import { CLIENT_HEADER, EXACT_LIMIT, startClusterApp } from './fixtures/cluster-app.js';

// Failover acceptance on a Redis Cluster (3 masters × 1 replica, one topology for the file):
// two app instances under steady load, the master owning a known client's slot SIGKILLed.
// Requests never fail (fail-open) and never wait much past the deadline; the replica is
// promoted; the same ioredis Cluster clients (no app restart) then write to the new master,
// and limiting is exact again across both instances (N + 1 requests → exactly N admitted).

const HASH_SECRET = 'cluster-fault-hash-secret';
const DEADLINE_MS = 500;
/** No request may take longer than the deadline plus this much (HTTP, fallback, scheduling). */
const SLOWEST_MS = DEADLINE_MS + 800;
/** Redis promotes after `cluster-node-timeout` (1000 ms in the harness) plus an election. */
const PROMOTION_MAX_MS = 10_000;
/** From promotion to limiting being exact again: measured 0.15–1.5 s (each breaker probes once per second). */
const RECOVERY_MAX_MS = 3_000;
const LOAD_WORKERS = 4;
const LOAD_CLIENTS = 48;
/** Pause of each load worker between requests: steady load, not a flood the 2-core CI box queues. */
const LOAD_PAUSE_MS = 5;
const PROBE_INTERVAL_MS = 50;
const FRESH_CLIENTS = 16;
const TEST_TIMEOUT_MS = 60_000;
const TOTAL_SLOTS = 16_384;

/** One HTTP exchange as the test saw it. */
interface Sample {
  path: string;
  client: string;
  status: number;
  /** When it was sent (`performance.now()`). */
  at: number;
  ms: number;
}

/** One rate-limit decision as an instance reported it. */
interface Decision {
  clientId: string;
  fallback: boolean;
  at: number;
}

describe('Redis Cluster failover: the master of a client slot is killed under load', () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const decisions: Decision[] = [];
  const samples: Sample[] = [];
  let cluster: RedisCluster;
  let apps: INestApplication[] = [];
  let urls: string[];
  let keys: KeyBuilder;
  /** The slot the victim client's keys hash to, its master then, and that master's replica. */
  let victim: { client: string; slot: number; master: RedisServer; replica: RedisServer };
  /** Clients never used yet whose keys hash to the victim's slot. */
  let fresh: string[];

  /** GETs `path` as `client` from instance `instance`, records and returns the sample. */
  function send(instance: number, path: string, client: string): Promise<Sample> {
    const at = performance.now();
    return new Promise((resolve, reject) => {
      const request = httpGet(`${urls[instance]}${path}`, { agent, headers: { [CLIENT_HEADER]: client } }, (res) => {
        res.resume();
        res.on('end', () => {
          const sample = { path, client, status: res.statusCode ?? 0, at, ms: performance.now() - at };
          samples.push(sample);
          resolve(sample);
        });
      });
      request.setTimeout(10_000, () => request.destroy(new Error(`GET ${path} got no answer within 10 s`)));
      request.on('error', reject);
    });
  }

  /**
   * N + 1 requests of one client to the `default` policy, alternating instances: whether
   * exactly N were admitted, all decided by Redis (the in-memory fallback, per instance,
   * would admit up to 2N).
   */
  async function exactRun(client: string): Promise<{ exact: boolean; statuses: number[]; byRedis: boolean }> {
    const statuses: number[] = [];
    for (let i = 0; i <= EXACT_LIMIT; i++) statuses.push((await send(i % 2, '/limited', client)).status);
    const mine = decisions.filter((decision) => decision.clientId === client);
    const byRedis = mine.length === EXACT_LIMIT + 1 && mine.every((decision) => !decision.fallback);
    const admitted = statuses.filter((status) => status === 200).length;
    const rejected = statuses.filter((status) => status === 429).length;
    return { exact: byRedis && admitted === EXACT_LIMIT && rejected === 1, statuses, byRedis };
  }

  /**
   * The master serving `slot` and its replica, from CLUSTER NODES of a running node (CLUSTER
   * SLOTS omits a replica until its first sync shows in gossip).
   */
  async function ownerOf(slot: number): Promise<{ master: RedisServer; replica?: RedisServer }> {
    const node = cluster.nodes.find((candidate) => candidate.running)!;
    const entries = String(await node.command('CLUSTER', 'NODES'))
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
        return { id, port: Number(address.split('@')[0].split(':').at(-1)), flags, masterId, slots };
      });
    const serves = (range: string) => {
      const [first, last = first] = range.split('-').map(Number);
      return first <= slot && slot <= last;
    };
    const master = entries.find((entry) => !entry.flags.includes('fail') && entry.slots.some(serves));
    if (!master) throw new Error(`no node serves slot ${slot}`);
    const replica = entries.find((entry) => entry.masterId === master.id && !entry.flags.includes('fail'));
    const byPort = (port: number) => cluster.nodes.find((candidate) => candidate.port === port)!;
    return { master: byPort(master.port), replica: replica && byPort(replica.port) };
  }

  beforeAll(async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 1 });
    const started = await Promise.allSettled(
      [0, 1].map(() =>
        startClusterApp({ clusterNodes: cluster.seeds, hashSecret: HASH_SECRET, commandTimeoutMs: DEADLINE_MS }),
      ),
    );
    apps = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    urls = await Promise.all(apps.map((app) => app.getUrl()));
    for (const app of apps) {
      app
        .get(ShieldEvents)
        .on('ratelimit.decision', ({ clientId, fallback }) =>
          decisions.push({ clientId, fallback, at: performance.now() }),
        );
      const connection = app.get(RedisConnection);
      await waitFor(() => connection.state === 'ready', 5000, 'the Cluster connection');
    }
    keys = apps[0].get(RedisConnection).keys;

    const client = 'client:victim';
    const slot = keySlot(keys.rateLimit(client, 'default'));
    // The test's own CRC16 must agree with Redis, or every "same slot" below is wrong.
    expect(await cluster.nodes[0].command('CLUSTER', 'KEYSLOT', keys.rateLimit(client, 'default'))).toBe(slot);
    const { master, replica } = await ownerOf(slot);
    if (!replica) throw new Error(`the master of slot ${slot} has no replica`);
    victim = { client, slot, master, replica };
    fresh = [];
    for (let i = 0; fresh.length < FRESH_CLIENTS; i++) {
      if (keySlot(keys.rateLimit(`client:fresh-${i}`, 'default')) === slot) fresh.push(`client:fresh-${i}`);
    }
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    agent.destroy();
    await cluster?.stop();
  });

  it(
    'healthy: N + 1 requests over two instances admit exactly N, counted on the master of the slot',
    async () => {
      const client = fresh.shift()!;
      const run = await exactRun(client);
      expect(run.statuses).toEqual([...Array<number>(EXACT_LIMIT).fill(200), 429]);
      expect(run.byRedis).toBe(true);
      // Read on the master itself: any other node would answer MOVED.
      expect(await victim.master.command('EXISTS', keys.rateLimit(client, 'default'))).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'master killed: never 5xx, never slower than deadline + 800 ms, replica promoted, ' +
      'and exact limiting again on the new master without restarting the app',
    async () => {
      // Steady load over both instances, clients on every master, a rate-limited and a cached route.
      let loading = true;
      let sent = 0;
      const workers = Array.from({ length: LOAD_WORKERS }, async (_, worker) => {
        for (let n = worker; loading; n += LOAD_WORKERS) {
          await send(n % 2, n % 3 === 0 ? '/cached' : '/load', `client:load-${n % LOAD_CLIENTS}`);
          sent += 1;
          await sleep(LOAD_PAUSE_MS);
        }
      });
      try {
        await waitFor(() => sent >= 100, 10_000, 'the load to run');
        const beforeKill = samples.length;

        const killedAt = performance.now();
        await victim.master.kill();

        // The harness's view of the roles, polled on its own so request latency does not blur it.
        let promotedAt: number | undefined;
        const promotion = (async () => {
          while (promotedAt === undefined && performance.now() - killedAt < PROMOTION_MAX_MS) {
            if ((await cluster.masters()).includes(victim.replica)) promotedAt = performance.now();
            else await sleep(PROBE_INTERVAL_MS);
          }
        })();
        // The victim keeps sending to the `load` policy, whose key it never wrote before the kill:
        // the first decision Redis makes for it must have been written to the promoted replica.
        let firstGoodWriteAt: number | undefined;
        for (let n = 0; firstGoodWriteAt === undefined; n++) {
          if (performance.now() - killedAt > PROMOTION_MAX_MS + RECOVERY_MAX_MS) break;
          await send(n % 2, '/load', victim.client);
          firstGoodWriteAt = decisions.find(
            (decision) => decision.clientId === victim.client && !decision.fallback && decision.at > killedAt,
          )?.at;
          await sleep(PROBE_INTERVAL_MS);
        }
        await promotion;
        expect(promotedAt).toBeDefined();
        expect(firstGoodWriteAt).toBeDefined();
        const { master: newMaster } = await ownerOf(victim.slot);
        expect(newMaster).toBe(victim.replica);
        expect(await newMaster.command('EXISTS', keys.rateLimit(victim.client, 'load'))).toBe(1);

        // Exact distributed limiting again: once both instances' connections are ready (each
        // breaker closes on its own probe, once per second), fresh clients on the slot until a
        // run is exact; every further run must be exact too.
        let exactAt: number | undefined;
        let runs = 0;
        const bothReady = () => apps.every((app) => app.get(RedisConnection).state === 'ready');
        while (exactAt === undefined && performance.now() - promotedAt! < RECOVERY_MAX_MS + 2000) {
          if (!bothReady() || fresh.length <= 2) {
            await sleep(20);
            continue;
          }
          runs += 1;
          if ((await exactRun(fresh.shift()!)).exact) exactAt = performance.now();
          else await sleep(100);
        }
        expect(exactAt).toBeDefined();
        for (let i = 0; i < 2; i++) {
          const client = fresh.shift()!;
          const run = await exactRun(client);
          expect(run).toEqual({ exact: true, byRedis: true, statuses: [...Array<number>(EXACT_LIMIT).fill(200), 429] });
          expect(await newMaster.command('EXISTS', keys.rateLimit(client, 'default'))).toBe(1);
        }
        // The load, on every slot, is decided by Redis again.
        await sleep(300);
        const recent = decisions.filter((decision) => decision.at > performance.now() - 200);
        expect(recent.length).toBeGreaterThan(0);
        expect(recent.every((decision) => !decision.fallback)).toBe(true);

        loading = false;
        await Promise.all(workers);
        const during = samples.slice(beforeKill);
        const statuses = countBy(samples.map((sample) => String(sample.status)));
        const slowest = samples.reduce((worst, sample) => (sample.ms > worst.ms ? sample : worst));
        const fallbackDecisions = decisions.filter((decision) => decision.fallback).length;
        process.stderr.write(
          `cluster failover: promoted ${ms(promotedAt! - killedAt)} after the kill; first write to the new master ` +
            `${ms(firstGoodWriteAt! - killedAt)} after the kill (${ms(firstGoodWriteAt! - promotedAt!)} after promotion); ` +
            `exact limiting ${ms(exactAt! - promotedAt!)} after promotion (${runs} run(s)); ` +
            `slowest request ${ms(slowest.ms)} (${slowest.path}); ${samples.length} requests ` +
            `(${during.length} after the kill), statuses ${JSON.stringify(statuses)}; ` +
            `${fallbackDecisions} of ${decisions.length} decisions by the in-memory fallback\n`,
        );

        expect(samples.filter((sample) => sample.status >= 500)).toEqual([]);
        expect(Object.keys(statuses).sort()).toEqual(['200', '429']);
        expect(slowest.ms).toBeLessThan(SLOWEST_MS);
        expect(promotedAt! - killedAt).toBeLessThan(PROMOTION_MAX_MS);
        expect(exactAt! - promotedAt!).toBeLessThan(RECOVERY_MAX_MS);
        for (const app of apps) expect(app.get(RedisConnection).state).toBe('ready');
      } finally {
        loading = false;
        await Promise.allSettled(workers);
      }
    },
    TEST_TIMEOUT_MS,
  );
});

/** The Cluster hash slot of a key (CRC16/XMODEM of its hash tag, or of the whole key, mod 16384). */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % TOTAL_SLOTS;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

function sleep(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}
