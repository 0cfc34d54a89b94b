import type { INestApplication } from '@nestjs/common';
import {
  type RateLimitDecisionEvent,
  RedisConnection,
  type RedisCommandEvent,
  RedisUnavailableError,
  ShieldEvents,
} from 'nestjs-redis-shield';
import { STATS_FLUSH_INTERVAL_MS } from '../../libs/nestjs-redis-shield/src/cache/nest/cache-stats.counter.js';
import { ResponseCacheWriter } from '../../libs/nestjs-redis-shield/src/cache/nest/response-cache.writer.js';
import { freePort, startRedisSentinel, type RedisSentinel, type RedisServer } from '../harness/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/wait-for.js';
import {
  CLIENT_HEADER,
  EXACT_LIMIT,
  HttpClient,
  type Sample,
  SteadyLoad,
  startShieldApp,
} from './fixtures/shield-app.js';

// Sentinel failover against real processes: 1 master + 1 replica + 3 Sentinels for the whole
// file (the tests run in order and change the topology). Two instances of the app, one on
// Express and one on Fastify, share the Sentinel set and go through the same faults together,
// so both adapters are covered without running the failovers twice.

const DEADLINE_MS = 500;
/** No request may take longer than its Redis deadline plus this. */
const SLOW_MAX_MS = DEADLINE_MS + 800;
/** From the Sentinels naming the new master to the app counting on it again. */
const RECOVERY_MAX_MS = 10_000;
const TEST_TIMEOUT_MS = 60_000;
const ADAPTERS = ['express', 'fastify'] as const;
type Adapter = (typeof ADAPTERS)[number];

/** One app instance and what the tests observe of it. */
interface Subject {
  adapter: Adapter;
  app: INestApplication;
  http: HttpClient;
  connection: RedisConnection;
  /** Every Redis call through the library, with when it ended (performance.now()). */
  commands: (RedisCommandEvent & { at: number })[];
  decisions: RateLimitDecisionEvent[];
}

/** `logger` is shared: Nest's static `Logger` writes to the logger of the app created last. */
async function startSubject(adapter: Adapter, set: RedisSentinel, logger: CaptureLogger): Promise<Subject> {
  const app = await startShieldApp({
    adapter,
    logger,
    redis: { sentinels: set.sentinels, sentinelName: set.masterName, commandTimeoutMs: DEADLINE_MS },
  });
  const subject: Subject = {
    adapter,
    app,
    http: new HttpClient(await app.getUrl()),
    connection: app.get(RedisConnection),
    commands: [],
    decisions: [],
  };
  const events = app.get(ShieldEvents);
  events.on('redis.command', (event) => subject.commands.push({ ...event, at: performance.now() }));
  events.on('ratelimit.decision', (event) => subject.decisions.push(event));
  return subject;
}

const exactKey = (subject: Subject, client: string) => subject.connection.keys.rateLimit(client, 'exact');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `count` requests of one fresh client to `/exact`, alternating between the instances. */
async function exactRun(subjects: Subject[], client: string, count: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    samples.push(await subjects[i % subjects.length].http.get('/exact', { [CLIENT_HEADER]: client }));
  }
  return samples;
}

/** Every decision about `client`, from every instance. */
const decisionsOf = (subjects: Subject[], client: string) =>
  subjects.flatMap((subject) => subject.decisions.filter((event) => event.clientId === client));

/** Keys of the response cache on a node (SCAN, not KEYS). */
async function cacheEntries(node: RedisServer): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await node.command('SCAN', cursor, 'MATCH', 'cache:response:*', 'COUNT', '1000')) as [
      string,
      string[],
    ];
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Prints one measured figure; the report quotes these lines. */
function report(figures: Record<string, unknown>): void {
  process.stdout.write(`[sentinel.fault-spec] ${JSON.stringify(figures)}\n`);
}

/** What one instance went through during a fault. */
interface LoadOutcome {
  adapter: Adapter;
  requests: number;
  statuses: Record<number, number>;
  slowestMs: number;
  /** When the slowest request was sent, relative to the start of the fault (ms). */
  slowestSentAtMs: number;
  /** The slowest request sent once the fault had started, in ms. */
  slowestDuringFaultMs: number;
  transportErrors: number;
}

/**
 * Runs `fault` while every instance serves a steady load (a GET every 5 ms, `/load` and
 * cached paths in turn), then checks the invariants of the whole window: every request
 * answered, 2xx or 429 only, none slower than the deadline + 800 ms.
 */
async function underLoad<T>(
  subjects: Subject[],
  fault: () => Promise<T>,
): Promise<{ result: T; outcomes: LoadOutcome[] }> {
  const loads = subjects.map(
    (subject) =>
      new SteadyLoad(subject.http, (n) => (n % 2 === 0 ? '/load' : `/cached/${n % 20}`), {
        [CLIENT_HEADER]: `load-${subject.adapter}`,
      }),
  );
  for (const load of loads) load.start();
  let result: T;
  let faultAt = 0;
  try {
    await sleep(300);
    faultAt = performance.now();
    result = await fault();
    await sleep(300); // load on the recovered topology too
  } finally {
    for (const load of loads) await load.stop();
  }
  const outcomes = loads.map((load, i) => ({
    adapter: subjects[i].adapter,
    requests: load.samples.length,
    statuses: load.statusCounts(),
    slowestMs: Math.round(load.slowest()?.ms ?? 0),
    slowestSentAtMs: Math.round((load.slowest()?.sentAt ?? 0) - faultAt),
    slowestDuringFaultMs: Math.round(Math.max(0, ...load.samples.filter((x) => x.sentAt >= faultAt).map((x) => x.ms))),
    transportErrors: load.failures.length,
  }));
  for (const load of loads) {
    expect(load.failures).toEqual([]);
    expect(load.samples.length).toBeGreaterThan(50);
    expect(load.samples.filter((sample) => sample.status !== 200 && sample.status !== 429)).toEqual([]);
    expect(load.slowest()!.ms).toBeLessThan(SLOW_MAX_MS);
  }
  return { result, outcomes };
}

/** When the first rate-limit script (a write) that ended after `since` got its reply from Redis. */
const firstReplyAfter = (subject: Subject, since: number) =>
  subject.commands.find((event) => event.at > since && event.outcome === 'ok' && event.command === 'rate_limit')?.at;

/** Waits until every instance has had a reply from Redis after `since` and is `ready`; returns the delays. */
async function recoveredAfter(subjects: Subject[], since: number): Promise<number[]> {
  for (const subject of subjects) {
    await waitFor(
      () => firstReplyAfter(subject, since) !== undefined && subject.connection.state === 'ready',
      RECOVERY_MAX_MS + 5000,
      `the ${subject.adapter} instance to write to Redis again`,
    );
  }
  return subjects.map((subject) => firstReplyAfter(subject, since)! - since);
}

/** N+1 requests of a fresh client across both instances: exactly N admitted, all decided in Redis on `master`. */
async function expectExact(subjects: Subject[], client: string, master: RedisServer): Promise<void> {
  const samples = await exactRun(subjects, client, EXACT_LIMIT + 1);
  expect(samples.map((sample) => sample.status)).toEqual([...Array(EXACT_LIMIT).fill(200), 429]);
  expect(decisionsOf(subjects, client).every((event) => !event.fallback)).toBe(true);
  expect(await master.command('EXISTS', exactKey(subjects[0], client))).toBe(1);
}

describe('Sentinel failover (Express and Fastify instances side by side)', () => {
  const logger = new CaptureLogger();
  let set: RedisSentinel;
  let subjects: Subject[] = [];

  beforeAll(async () => {
    set = await startRedisSentinel();
    subjects = await Promise.all(ADAPTERS.map((adapter) => startSubject(adapter, set, logger)));
    for (const subject of subjects) {
      await waitFor(() => subject.connection.state === 'ready', 5000, `the ${subject.adapter} connection`);
    }
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    for (const sentinel of set?.sentinelProcesses ?? []) await sentinel.resume();
    for (const subject of subjects) subject.http.close();
    await Promise.all(subjects.map((subject) => subject.app.close()));
    await set?.stop();
  });

  it(
    'healthy: both instances count on the master the Sentinels name, exactly across both',
    async () => {
      const master = await set.master();
      expect(master).toBe(set.nodes[0]);
      await expectExact(subjects, 'healthy', master);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'master SIGKILLed under load: never 5xx, never slower than the deadline + 800 ms, and once the ' +
      'replica is promoted both instances write to it without a restart, exactly again',
    async () => {
      const master = await set.master();
      const { result, outcomes } = await underLoad(subjects, async () => {
        const killedAt = performance.now();
        await master.kill();
        const promoted = await set.waitForFailover(master.port, 30_000);
        const promotedAt = performance.now();
        // Only the new master can answer after the promotion (the old one is dead).
        return {
          promoted,
          killToPromotionMs: promotedAt - killedAt,
          recovered: await recoveredAfter(subjects, promotedAt),
        };
      });
      const { promoted } = result;
      expect(promoted).toBe(set.nodes[1]);
      for (const [i, outcome] of outcomes.entries()) {
        report({
          fault: 'master SIGKILL',
          ...outcome,
          killToPromotionMs: Math.round(result.killToPromotionMs),
          promotionToFirstWriteMs: Math.round(result.recovered[i]),
        });
        expect(result.recovered[i]).toBeLessThan(RECOVERY_MAX_MS);
      }

      // Distributed limiting is exact again, counted on the new master.
      await expectExact(subjects, 'after-failover', promoted);
      // The response cache writes there too: a path first asked after the failover is a HIT next time.
      const before = (await cacheEntries(promoted)).length;
      for (const subject of subjects) {
        const path = `/cached/after-failover-${subject.adapter}`;
        expect((await subject.http.get(path)).headers['x-cache-status']).toBe('MISS');
        let status: unknown;
        for (let attempt = 0; attempt < 20 && status !== 'HIT'; attempt++) {
          if (attempt > 0) await sleep(50);
          status = (await subject.http.get(path)).headers['x-cache-status'];
        }
        expect(status).toBe('HIT');
      }
      // A HIT may be the leader's response handed to a local follower while its write is
      // still in flight: the entries are counted once every write settled.
      await Promise.all(subjects.map((subject) => subject.app.get(ResponseCacheWriter).flush()));
      expect((await cacheEntries(promoted)).length).toBe(before + 2);
      // Failing over is warned about (down, ready), never an error.
      expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "master demoted behind the Sentinels' back (REPLICAOF): its READONLY replies count as " +
      '"unavailable" (fail-open, no script error), and counting resumes once it is a master again',
    async () => {
      // Idle first: no pending cache stats or violations, so nothing but the probes below
      // writes between the demotion and them (a write would meet READONLY first).
      await sleep(STATS_FLUSH_INTERVAL_MS + 300);
      const master = await set.master();
      // A replica of a port nobody listens on: it keeps its data and refuses writes.
      const nowhere = String(await freePort());
      await master.command('REPLICAOF', '127.0.0.1', nowhere);
      const states = subjects.map((subject) => {
        const seen: string[] = [];
        const off = subject.app
          .get(ShieldEvents)
          .on('redis.state', (event) => seen.push(`${event.state}: ${event.reason}`));
        return { seen, off };
      });
      try {
        // A script that writes, as every rate-limit and cache script does.
        for (const subject of subjects) {
          const write = subject.connection.run((client) =>
            client.eval("return redis.call('SET', KEYS[1], '1')", 1, 'probe'),
          );
          const error = await write.then(
            () => undefined,
            (caught: unknown) => caught,
          );
          expect(error).toBeInstanceOf(RedisUnavailableError);
          expect(((error as Error).cause as Error).message).toMatch(
            /^READONLY You can't write against a read only replica/,
          );
        }
        const errorsBefore = subjects.map(
          (subject) => subject.commands.filter((event) => event.outcome === 'error').length,
        );
        const { result, outcomes } = await underLoad(subjects, async () => {
          await sleep(1500);
          await master.command('REPLICAOF', 'NO', 'ONE');
          const restoredAt = performance.now();
          return { recovered: await recoveredAfter(subjects, restoredAt) };
        });
        for (const [i, outcome] of outcomes.entries()) {
          report({
            fault: 'master demoted for 1.5 s',
            ...outcome,
            restoreToFirstWriteMs: Math.round(result.recovered[i]),
          });
          // READONLY is "Redis unavailable", never a command error (which would log "rate-limit script failed").
          expect(subjects[i].commands.filter((event) => event.outcome === 'error').length).toBe(errorsBefore[i]);
          // The client dropped the demoted node at its first READONLY, to ask the Sentinels again.
          expect(states[i].seen[0]).toBe('down: connection closed');
          expect(result.recovered[i]).toBeLessThan(RECOVERY_MAX_MS);
        }
        expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
        expect(logger.of('Redis:default').map((line) => line.message)).toContain('ready (connected)');
        await expectExact(subjects, 'after-demotion', master);
      } finally {
        for (const { off } of states) off();
        await master.command('REPLICAOF', 'NO', 'ONE');
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a stalled Sentinel (SIGSTOP) does not keep the instances from following a second failover',
    async () => {
      const [oldMaster] = set.nodes;
      // The old master comes back (empty) and is made a replica of the new one, as an operator
      // would; the Sentinels alone take 10-20 s to convert it (their INFO period is 10 s).
      const restartedAt = performance.now();
      await oldMaster.restart();
      const master = await set.master();
      expect(master).toBe(set.nodes[1]);
      await oldMaster.command('REPLICAOF', master.host, String(master.port));
      await set.waitUntilReady(30_000);
      report({ fault: 'old master restarted', readyAsReplicaMs: Math.round(performance.now() - restartedAt) });

      // Every Sentinel is asked during the reconnects that follow the kill: one of them hangs.
      await set.sentinelProcesses[0].stall();
      const { result, outcomes } = await underLoad(subjects, async () => {
        const killedAt = performance.now();
        await master.kill();
        const promoted = await set.waitForFailover(master.port, 30_000);
        const promotedAt = performance.now();
        return {
          promoted,
          killToPromotionMs: promotedAt - killedAt,
          recovered: await recoveredAfter(subjects, promotedAt),
        };
      });
      expect(result.promoted).toBe(oldMaster);
      for (const [i, outcome] of outcomes.entries()) {
        report({
          fault: 'master SIGKILL, one Sentinel stalled',
          ...outcome,
          killToPromotionMs: Math.round(result.killToPromotionMs),
          promotionToFirstWriteMs: Math.round(result.recovered[i]),
        });
        expect(result.recovered[i]).toBeLessThan(RECOVERY_MAX_MS);
      }
      await expectExact(subjects, 'after-second-failover', oldMaster);
      await set.sentinelProcesses[0].resume();
    },
    TEST_TIMEOUT_MS,
  );
});
