// npm run bench: nestjs-redis-shield against the anchors it is measured by (@nestjs/throttler
// + @nest-lab/throttler-storage-redis, rate-limiter-flexible, @nestjs/cache-manager + Keyv
// + @keyv/redis), side by side in one run on this machine, with its own redis-server on a
// free loopback port. Prints one table (and more detail) and writes bench/RESULTS.md.
//
// Usage: npm run bench [-- --quick] [-- --seconds 3 --rounds 9 --clients 20000]
//   --quick      3 rounds × 3 s; counted runs of 300 requests, memory over 2 000 clients,
//                5 flood variants of 1 s (a smoke test of every part; about 3.5 min)
//   --seconds N  length of each timed run (default 3; a full run takes about 15 min: 22
//                variants × 9 rounds × ~4 s, plus start-up, counted, memory and flood runs)
//   --rounds N   rounds of every variant, order alternating (default 9)
//   --clients N  distinct clients of the memory runs (default 20 000)
//   --no-write   print only; leave bench/RESULTS.md alone
//
// Method (see RESULTS.md for the numbers):
// - Every variant is a Nest app (Express, or Fastify for the `(fastify)` ones; logger off,
//   `GET /ping` → `{ ok: true }`) in a child process of its own (bench/apps, compiled to
//   bench/dist here), started once and kept for all rounds; only one is under load at a time.
//   Each round runs every variant in turn (RUN_ORDER: each variant next to what it is
//   compared with; order reversed every other round): FLUSHALL,
//   warm-up, then autocannon, 50 connections, for --seconds. Ratios to the bare app of the
//   same adapter and to the anchors (req/s, p99, CPU) are per round, then the median.
// - App CPU: `process.cpuUsage()` of the variant's process across the timed run / requests.
// - Redis commands and bytes per request: one separate run per variant through a
//   RESP-counting proxy (never in the timed rounds), after SCRIPT FLUSH + FLUSHALL and a
//   warm-up (so a cache variant is measured on hits).
// - Redis memory per client: used_memory delta over N distinct clients (X-Forwarded-For,
//   the apps trust it), after FLUSHALL and one warm-up request, active expiry paused.
// - Flood: one client already at its limit (10 per tier), 50 connections, all rejected.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import * as prettier from 'prettier';
import { spawnHost } from './lib/app-host.mjs';
import { compileApps, HIGH_TIERS } from './lib/apps.mjs';
import { CONNECTIONS, load, requests, sequential, unexpected } from './lib/load.mjs';
import { libraryRevision, machine, packageVersions } from './lib/machine.mjs';
import { cleanup, sleep, startRedis } from './lib/processes.mjs';
import { duration, fixed, int, markdownTable, median, signed } from './lib/report.mjs';
import { startCountingProxy } from './lib/resp-proxy.mjs';

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(BENCH, '..');
const startedAt = Date.now();

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    clients: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const SETTINGS = {
  // Many short rounds rather than a few long ones: this VM's CPU speed drifts by tens of per
  // cent within a minute, and a median of 9 same-round ratios holds still better than of 5.
  seconds: positive('--seconds', values.seconds ?? '3'),
  rounds: positive('--rounds', values.rounds ?? (quick ? '3' : '9')),
  /** Warm-up before a variant's first timed run, and before later ones (already JIT-warm), in s. */
  warmupFirst: quick ? 0.25 : 2,
  warmup: quick ? 0.25 : 0.5,
  memoryClients: positive('--clients', values.clients ?? (quick ? '2000' : '20000')),
  /** Requests before a counted run (after 3 one by one), and in it. */
  countedWarmup: quick ? 50 : 500,
  countedRequests: quick ? 300 : 3000,
  floodSeconds: quick ? 1 : 4,
  countedFloodSeconds: quick ? 0.5 : 2,
};
if (SETTINGS.memoryClients > 131_072) {
  process.stderr.write('bench: --clients is at most 131 072 (addresses in 198.18.0.0/15)\n');
  process.exit(2);
}

/** The flood's client is over all three at once, so it stays rejected across minute and burst boundaries. */
const FLOOD_LIMIT = 10;
const FLOOD_TIERS = HIGH_TIERS.map((tier) => ({ ...tier, limit: FLOOD_LIMIT }));

/** The limits a variant's app runs with: the flood's for a flood variant, else limits never reached. */
function tiersOf(variant) {
  return variant.flood ? FLOOD_TIERS : HIGH_TIERS;
}

/**
 * The timed variants. `anchors`: the variants each ratio is taken against, in the same round
 * (a `(fastify)` variant against Fastify anchors; `× bare` is always the same adapter's bare).
 */
const VARIANTS = [
  { name: 'bare', config: {} },
  { name: 'shield-limit', config: { limiter: 'shield' }, anchors: ['throttler', 'rlf'] },
  { name: 'shield-limit+metrics', config: { limiter: 'shield', metrics: true }, anchors: ['shield-limit'] },
  // A concurrency tier beside the rate tiers: the same one script call before the response.
  {
    name: 'shield-limit+concurrency',
    config: { limiter: 'shield', concurrency: 1000 },
    anchors: ['shield-limit'],
  },
  { name: 'shield-cache', config: { cache: 'shield', l1: false }, anchors: ['cache-manager'] },
  { name: 'shield-cache-l1', config: { cache: 'shield' }, anchors: ['cache-manager'] },
  { name: 'shield-cache-stale', config: { cache: 'shield', stale: true }, anchors: ['cache-manager'] },
  {
    name: 'shield-limit-cache',
    config: { limiter: 'shield', cache: 'shield' },
    anchors: ['throttler+cache-manager'],
  },
  // One client over its limits (the flood's tiers): every timed request is a 429 decided by
  // the local block cache, compared round by round with the allowed path (issue 20 point 4).
  {
    name: 'shield-flood',
    config: { limiter: 'shield' },
    flood: true,
    anchors: ['shield-limit'],
  },
  { name: 'throttler', config: { limiter: 'throttler' } },
  { name: 'rlf', config: { limiter: 'rlf' } },
  // Not a limiter: one script call of three Redis commands per request and nothing else, so
  // every run measures what one round trip costs on its machine (the bound of target 20.2),
  // and how far above the anchors that bound lies.
  { name: 'floor', config: { limiter: 'floor' }, anchors: ['throttler', 'rlf'] },
  { name: 'cache-manager', config: { cache: 'cache-manager' } },
  { name: 'throttler+cache-manager', config: { limiter: 'throttler', cache: 'cache-manager' } },
  { name: 'bare (fastify)', config: { adapter: 'fastify' } },
  {
    name: 'shield-limit (fastify)',
    config: { limiter: 'shield', adapter: 'fastify' },
    anchors: ['throttler (fastify)'],
  },
  {
    name: 'shield-cache (fastify)',
    config: { cache: 'shield', l1: false, adapter: 'fastify' },
    anchors: ['cache-manager (fastify)'],
  },
  {
    name: 'shield-cache-l1 (fastify)',
    config: { cache: 'shield', adapter: 'fastify' },
    anchors: ['cache-manager (fastify)'],
  },
  {
    name: 'shield-limit-cache (fastify)',
    config: { limiter: 'shield', cache: 'shield', adapter: 'fastify' },
    anchors: ['throttler+cache-manager (fastify)'],
  },
  {
    name: 'shield-flood (fastify)',
    config: { limiter: 'shield', adapter: 'fastify' },
    flood: true,
    anchors: ['shield-limit (fastify)'],
  },
  { name: 'throttler (fastify)', config: { limiter: 'throttler', adapter: 'fastify' } },
  { name: 'floor (fastify)', config: { limiter: 'floor', adapter: 'fastify' }, anchors: ['throttler (fastify)'] },
  { name: 'cache-manager (fastify)', config: { cache: 'cache-manager', adapter: 'fastify' } },
  {
    name: 'throttler+cache-manager (fastify)',
    config: { limiter: 'throttler', cache: 'cache-manager', adapter: 'fastify' },
  },
];
const MEMORY_VARIANTS = ['shield-limit', 'throttler', 'rlf'];

/**
 * The order of the timed rounds (every VARIANTS name once): each variant runs right next to
 * what a target compares it with (its bare app, its anchor), so that a same-round ratio is of
 * two runs seconds apart, not a minute, on a machine whose CPU speed drifts within a minute.
 * Reversed every other round; the tables keep the order of VARIANTS.
 */
const RUN_ORDER = [
  'shield-limit+metrics',
  'shield-limit+concurrency',
  'rlf',
  'shield-flood',
  'throttler',
  'shield-limit',
  'floor',
  'bare',
  'shield-cache-l1',
  'cache-manager',
  'shield-cache',
  'shield-cache-stale',
  'throttler+cache-manager',
  'shield-limit-cache',
  'shield-flood (fastify)',
  'throttler (fastify)',
  'shield-limit (fastify)',
  'floor (fastify)',
  'bare (fastify)',
  'shield-cache-l1 (fastify)',
  'cache-manager (fastify)',
  'shield-cache (fastify)',
  'throttler+cache-manager (fastify)',
  'shield-limit-cache (fastify)',
];
if (RUN_ORDER.length !== VARIANTS.length || VARIANTS.some(({ name }) => !RUN_ORDER.includes(name))) {
  throw new Error('bench: RUN_ORDER must name every variant once');
}

const phases = [];
/** The 1-minute load average when the run started: anything else running skews the figures. */
const loadAtStart = loadavg()[0];
const problems = [];
let admin;

process.once('SIGINT', () => {
  process.stderr.write('\nbench: SIGINT, stopping every child\n');
  cleanup().then(() => process.exit(130));
});

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  admin?.disconnect();
  await cleanup();
}
// Bounded: nothing the run started (autocannon timers, sockets) may keep the process alive.
process.exit();

async function main() {
  await phase('compile bench/apps (tsc -p bench/tsconfig.json)', compileBenchApps);
  const redis = await startRedis();
  admin = new Redis(redis.url);
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
  const blockCacheOption = hasBlockCacheOption();
  log(`redis-server ${redisVersion} on ${redis.url}; ${VARIANTS.length} variants, ${describeSettings()}`);

  // A variant that cannot start is reported and left out; the others still run.
  const hosts = new Map();
  await phase(`start ${VARIANTS.length} app processes`, async () => {
    await Promise.all(
      VARIANTS.map((variant) =>
        attempt(`${variant.name}: could not start`, async () => {
          const host = spawnHost(variant.name);
          try {
            const port = await host.start({ ...variant.config, tiers: tiersOf(variant), redisUrl: redis.url });
            hosts.set(variant.name, { host, port });
          } catch (error) {
            await host.close();
            throw error;
          }
        }),
      ),
    );
  });
  const active = VARIANTS.filter((variant) => hosts.has(variant.name));

  const rounds = await phase(`${SETTINGS.rounds} timed rounds`, () => timedRounds(hosts, active));
  const counted = await phase('counted runs through the RESP proxy', () => countedRuns(hosts, active, redis));
  const memory = await phase('Redis memory per client', () => memoryRuns(hosts));
  const floods = await phase('flood', () => floodRuns(hosts, redis, blockCacheOption));
  for (const { host } of hosts.values()) await host.close();

  const summary = summarize(active, rounds, counted);
  const report = render({ summary, counted, memory, floods, redisVersion, blockCacheOption });
  process.stdout.write(`\n${report.stdout}\n`);
  if (!values['no-write']) {
    // Formatted as `npm run lint` expects (prettier aligns tables and wraps nothing).
    const file = join(BENCH, 'RESULTS.md');
    const options = (await prettier.resolveConfig(file)) ?? {};
    writeFileSync(file, await prettier.format(report.markdown, { ...options, filepath: file }));
    process.stdout.write('\nwritten: bench/RESULTS.md\n');
  }
  if (problems.length > 0) process.exitCode = 1;
}

// --- phases ---

/** tsc -p bench/tsconfig.json, unless bench/dist is newer than every source. */
function compileBenchApps() {
  if (!compileApps()) log('bench/dist is up to date');
}

/** Every variant in every round, in RUN_ORDER reversed every other round; FLUSHALL before each. */
async function timedRounds(hosts, active) {
  const runs = []; // { round, variant, rps, p50, p99, cpuPerRequest, requests }
  const ordered = RUN_ORDER.map((name) => active.find((variant) => variant.name === name)).filter(Boolean);
  for (let round = 0; round < SETTINGS.rounds; round++) {
    const order = round % 2 === 0 ? ordered : [...ordered].reverse();
    for (const variant of order) {
      const run = await attempt(`${variant.name}, round ${round + 1}`, () =>
        timedRun(hosts.get(variant.name), variant, round),
      );
      if (run) runs.push(run);
    }
  }
  return runs;
}

async function timedRun({ host, port }, variant, round) {
  await admin.flushall('SYNC');
  await requests({ port, seconds: round === 0 ? SETTINGS.warmupFirst : SETTINGS.warmup });
  const before = await host.stats();
  const result = await load({ port, seconds: SETTINGS.seconds });
  const after = await host.stats();
  const run = {
    round,
    variant: variant.name,
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    requests: result.requests,
    cpuPerRequest: (after.cpuUs - before.cpuUs) / result.requests,
  };
  check(`${variant.name}, round ${round + 1}`, unexpected(result, variant.flood ? 429 : 200));
  for (const problem of after.problems) check(`${variant.name}, round ${round + 1}`, problem);
  // A stale variant's background refreshes run the handler: that is what it measures.
  if (variant.config.cache && !variant.config.stale && after.handlerCalls !== before.handlerCalls) {
    check(
      `${variant.name}, round ${round + 1}`,
      `the handler ran ${after.handlerCalls - before.handlerCalls} times: not all hits`,
    );
  }
  log(
    `round ${round + 1}/${SETTINGS.rounds}  ${variant.name.padEnd(24)} ${int(run.rps).padStart(7)} req/s  ` +
      `p50 ${run.p50} ms  p99 ${run.p99} ms  ${fixed(run.cpuPerRequest, 0)} µs CPU/req`,
  );
  return run;
}

/** One run of `countedRequests` per variant through the counting proxy, after a warm-up. */
async function countedRuns(hosts, active, redis) {
  const proxy = await startCountingProxy(redis);
  const counted = new Map();
  try {
    for (const variant of active) {
      if (isBare(variant)) continue; // bare never talks to Redis
      if (variant.flood) continue; // counted by the flood runs below
      await attempt(`${variant.name}, counted run`, () => countedRun(hosts.get(variant.name), variant, proxy, counted));
    }
  } finally {
    await proxy.close();
  }
  return counted;
}

async function countedRun({ host }, variant, proxy, counted) {
  await admin.script('FLUSH');
  await admin.flushall('SYNC');
  const port = await host.start({ ...variant.config, tiers: HIGH_TIERS, redisUrl: proxy.url });
  try {
    await sequential(port, 3);
    await sleep(100); // cache entries are written after the response is sent
    await requests({ port, amount: SETTINGS.countedWarmup });
    proxy.reset();
    const result = await requests({ port, amount: SETTINGS.countedRequests });
    const counts = proxy.snapshot();
    check(`${variant.name}, counted run`, unexpected(result));
    counted.set(variant.name, { ...counts, requests: result.requests });
    log(
      `counted  ${variant.name.padEnd(24)} ${fixed(counts.commands / result.requests)} commands/req, ` +
        `${fixed(counts.bytes / result.requests, 0)} B/req`,
    );
  } finally {
    await host.stop(port);
  }
}

/**
 * used_memory delta per distinct client, on the variants' own (timed) apps. Active expiry
 * is paused meanwhile: a run can outlast the 10 s burst window, whose keys (throttler, rlf)
 * would otherwise start expiring before the measurement.
 */
async function memoryRuns(hosts) {
  const results = [];
  await admin.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0');
  try {
    for (const name of MEMORY_VARIANTS.filter((variant) => hosts.has(variant))) {
      const run = await attempt(`${name}, memory run`, () => memoryRun(name, hosts.get(name)));
      if (run) results.push(run);
    }
  } finally {
    await admin.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1');
  }
  return results;
}

async function memoryRun(name, { host, port }) {
  await admin.flushall('SYNC');
  await sequential(port, 1, { 'x-forwarded-for': '192.0.2.1' }); // scripts loaded, connection up
  const usedBefore = await usedMemory();
  const keysBefore = await admin.dbsize();
  const result = await requests({
    port,
    amount: SETTINGS.memoryClients,
    headers: (i) => ({ 'x-forwarded-for': clientAddress(i) }),
  });
  const usedAfter = await usedMemory();
  const keysAfter = await admin.dbsize();
  const { problems: hostProblems } = await host.stats();
  check(`${name}, memory run`, unexpected(result));
  for (const problem of hostProblems) check(`${name}, memory run`, problem);
  const run = {
    variant: name,
    clients: SETTINGS.memoryClients,
    bytes: usedAfter - usedBefore,
    perClient: (usedAfter - usedBefore) / SETTINGS.memoryClients,
    keysPerClient: (keysAfter - keysBefore) / SETTINGS.memoryClients,
    seconds: result.seconds,
  };
  log(`memory   ${name.padEnd(24)} ${fixed(run.perClient, 1)} B/client, ${fixed(run.keysPerClient)} keys/client`);
  return run;
}

/**
 * One over-limit client, 50 connections: timed directly, then counted through the proxy.
 * Each runs in the host of a timed variant (`host`, on its adapter); `allowed`: the timed
 * variant whose allowed path it is compared with (shield-limit of the same adapter).
 */
async function floodRuns(hosts, redis, blockCacheOption) {
  // `quick`: the ones --quick runs.
  const variants = [
    { name: 'shield (block cache on, stream on)', host: 'shield-limit', config: { limiter: 'shield' }, quick: true },
    {
      name: 'shield (block cache on, stream off)',
      host: 'shield-limit',
      config: { limiter: 'shield', violations: false },
    },
    {
      name: 'shield (block cache on, stream on, metrics)',
      host: 'shield-limit',
      config: { limiter: 'shield', metrics: true },
    },
    ...(blockCacheOption
      ? [
          {
            name: 'shield (block cache off, stream on)',
            host: 'shield-limit',
            config: { limiter: 'shield', blockCache: false },
            quick: true,
          },
          {
            name: 'shield (block cache off, stream off)',
            host: 'shield-limit',
            config: { limiter: 'shield', blockCache: false, violations: false },
          },
        ]
      : []),
    { name: 'throttler', host: 'throttler', config: { limiter: 'throttler' }, quick: true },
    { name: 'rlf', host: 'rlf', config: { limiter: 'rlf' }, quick: true },
    { name: 'rlf (inMemoryBlockOnConsumed)', host: 'rlf', config: { limiter: 'rlf', rlfInMemoryBlock: true } },
    {
      name: 'shield (fastify, block cache on, stream on)',
      host: 'shield-limit (fastify)',
      allowed: 'shield-limit (fastify)',
      config: { limiter: 'shield', adapter: 'fastify' },
      quick: true,
    },
  ];
  const selected = variants.filter((variant) => hosts.has(variant.host) && (variant.quick || !quick));
  const proxy = await startCountingProxy(redis);
  const results = [];
  try {
    for (const variant of selected) {
      const run = await attempt(`flood ${variant.name}`, () =>
        floodRun(hosts.get(variant.host), variant, proxy, redis),
      );
      if (run) results.push(run);
    }
  } finally {
    await proxy.close();
  }
  return results;
}

async function floodRun({ host }, variant, proxy, redis) {
  const config = { ...variant.config, tiers: FLOOD_TIERS };

  await admin.flushall('SYNC');
  let port = await host.start({ ...config, redisUrl: redis.url });
  let timed;
  let cpuPerRequest;
  try {
    checkExhausted(variant.name, await sequential(port, FLOOD_LIMIT));
    // Warmed up as every variant is before its first timed run (JIT, pools), so the
    // comparison with the allowed path's rounds is of the same steady state.
    await requests({ port, seconds: SETTINGS.warmupFirst });
    const before = await host.stats();
    timed = await load({ port, seconds: SETTINGS.floodSeconds });
    const after = await host.stats();
    cpuPerRequest = (after.cpuUs - before.cpuUs) / timed.requests;
    check(`flood ${variant.name}`, unexpected(timed, 429));
  } finally {
    await host.stop(port);
  }

  await admin.script('FLUSH');
  await admin.flushall('SYNC');
  port = await host.start({ ...config, redisUrl: proxy.url });
  let counts;
  let countedRun;
  try {
    checkExhausted(variant.name, await sequential(port, FLOOD_LIMIT));
    proxy.reset();
    countedRun = await requests({ port, seconds: SETTINGS.countedFloodSeconds });
    counts = proxy.snapshot();
    check(`flood ${variant.name}, counted run`, unexpected(countedRun, 429));
  } finally {
    await host.stop(port);
  }
  const run = {
    variant: variant.name,
    allowed: variant.allowed ?? 'shield-limit',
    timed,
    cpuPerRequest,
    counts,
    countedRun,
  };
  log(
    `flood    ${variant.name.padEnd(44)} ${int(timed.rps).padStart(7)} req/s, ` +
      `${counts.commands} Redis calls in ${fixed(countedRun.seconds, 1)} s (${int(countedRun.requests)} requests)`,
  );
  return run;
}

function checkExhausted(name, statuses) {
  if (statuses.some((status) => status !== 200)) {
    check(`flood ${name}`, `the ${FLOOD_LIMIT} requests before the flood were not all 200: ${statuses.join(' ')}`);
  }
}

// --- summary ---

/**
 * Per variant: medians over rounds, and the median of same-round comparisons with the bare
 * app of its adapter and with each anchor (req/s and p99 ratios, CPU difference).
 */
function summarize(active, runs, counted) {
  const byRound = new Map();
  for (const run of runs) {
    if (!byRound.has(run.round)) byRound.set(run.round, new Map());
    byRound.get(run.round).set(run.variant, run);
  }
  /** The median over rounds that ran both of `compare(variant's run, other's run)`. */
  const sameRound = (variant, other, compare) =>
    median(
      [...byRound.values()]
        .filter((round) => round.has(variant) && round.has(other))
        .map((round) => compare(round.get(variant), round.get(other))),
    );
  const rpsRatio = (mine, theirs) => mine.rps / theirs.rps;
  const p99Ratio = (mine, theirs) => mine.p99 / theirs.p99;
  const cpuDelta = (mine, theirs) => mine.cpuPerRequest - theirs.cpuPerRequest;
  return active.map((variant) => {
    const mine = runs.filter((run) => run.variant === variant.name);
    const rps = mine.map((run) => run.rps);
    const counts = counted.get(variant.name);
    const bare = bareOf(variant);
    return {
      name: variant.name,
      rps: median(rps),
      min: Math.min(...rps),
      max: Math.max(...rps),
      p50: median(mine.map((run) => run.p50)),
      p99: median(mine.map((run) => run.p99)),
      cpu: median(mine.map((run) => run.cpuPerRequest)),
      bare: sameRound(variant.name, bare, rpsRatio),
      cpuOverBare: sameRound(variant.name, bare, cpuDelta),
      anchors: (variant.anchors ?? []).map((anchor) => ({
        anchor,
        ratio: sameRound(variant.name, anchor, rpsRatio),
        p99Ratio: sameRound(variant.name, anchor, p99Ratio),
        cpuDelta: sameRound(variant.name, anchor, cpuDelta),
      })),
      commands: counts ? counts.commands / counts.requests : isBare(variant) ? 0 : Number.NaN,
      bytes: counts ? counts.bytes / counts.requests : isBare(variant) ? 0 : Number.NaN,
      byName: counts
        ? [...counts.byName].sort((a, b) => b[1] - a[1]).map(([name, n]) => [name, n / counts.requests])
        : [],
    };
  });
}

function render({ summary, counted, memory, floods, redisVersion, blockCacheOption }) {
  const m = machine();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const mainTable = markdownTable(
    [
      'variant',
      'req/s median (min–max)',
      'p50 ms',
      'p99 ms',
      '× bare (same adapter)',
      '× anchor (same round)',
      'p99 vs anchor (same round)',
      'Redis cmds/req',
      'bytes to Redis/req',
      'app CPU µs/req',
    ],
    summary.map((row) => [
      row.name,
      `${int(row.rps)} (${int(row.min)}–${int(row.max)})`,
      fixed(row.p50, 0),
      fixed(row.p99, 0),
      fixed(row.bare),
      row.anchors.map(({ anchor, ratio }) => `${fixed(ratio)} × ${anchor}`).join(', ') || '—',
      row.anchors.map((a) => p99VersusAnchor(row, a, summary)).join(', ') || '—',
      fixed(row.commands),
      fixed(row.bytes, 0),
      fixed(row.cpu, 0),
    ]),
  );
  const commandLines = summary
    .filter((row) => row.byName.length > 0)
    .map(
      (row) =>
        `- ${row.name}: ${row.byName
          .filter(([, perRequest]) => perRequest >= 0.0005)
          .map(([name, perRequest]) => `${fixed(perRequest, 3)} \`${name}\``)
          .join(', ')}`,
    );
  const memoryTable = markdownTable(
    ['variant (3 tiers)', 'distinct clients', 'used_memory delta', 'B per client', 'keys per client', 'load s'],
    memory.map((run) => [
      run.variant,
      int(run.clients),
      int(run.bytes),
      fixed(run.perClient, 1),
      fixed(run.keysPerClient),
      fixed(run.seconds, 1),
    ]),
  );
  const allowedRps = (run) => summary.find((row) => row.name === run.allowed)?.rps;
  const floodTable = markdownTable(
    [
      'flood variant',
      'req/s',
      '× shield-limit allowed (same adapter)',
      'statuses',
      'app CPU µs/req',
      'Redis calls (counted run)',
      'calls per 1 000 req',
      'calls by command',
    ],
    floods.map((run) => [
      run.variant,
      int(run.timed.rps),
      fixed(run.timed.rps / allowedRps(run)),
      Object.entries(run.timed.statuses)
        .map(([code, n]) => `${code}: ${int(n)}`)
        .join(', '),
      fixed(run.cpuPerRequest, 0),
      `${int(run.counts.commands)} in ${fixed(run.countedRun.seconds, 1)} s`,
      fixed((run.counts.commands / run.countedRun.requests) * 1000, 1),
      [...run.counts.byName]
        .sort((a, b) => b[1] - a[1])
        .map(([name, n]) => `${int(n)} \`${name}\``)
        .join(', ') || '—',
    ]),
  );
  const costs = costLines(summary, floods);
  const targets = targetTable(summary, memory, floods, counted);
  const phaseLines = phases.map(({ name, ms }) => `- ${name}: ${duration(ms)}`);
  const total = duration(Date.now() - startedAt);
  const problemLines = problems.length > 0 ? problems.map((problem) => `- ${problem}`) : ['- none'];

  const methodLines = [
    `- Each variant is a Nest ${versionOf('@nestjs/core')} app (Express adapter with \`trust proxy\` on, or for the`,
    `  \`(fastify)\` ones @nestjs/platform-fastify ${versionOf('@nestjs/platform-fastify')} with \`trustProxy: true\`; ` +
      'logger off) serving',
    '  `GET /ping` → `{ ok: true }`, in a child process of its own, started once and kept for all rounds; one',
    `  variant is under load at a time. Per round and variant: FLUSHALL, warm-up (${SETTINGS.warmupFirst} s in the first`,
    `  round, ${SETTINGS.warmup} s after), then autocannon, ${CONNECTIONS} connections, ${SETTINGS.seconds} s. ` +
      'Each variant runs next to what it is compared with (its bare app, its anchor); rounds alternate the order.',
    '- Limits (all libraries, 3 tiers): minute 1 000 000 / 60 s, hour 2 000 000 / 3 600 s, burst 1 000 000 / 10 s;',
    '  nothing is rejected. nestjs-redis-shield: default algorithm (sliding window), Redis deadline 1 000 ms (so',
    '  no request falls back to memory under load; the apps report any fallback or open circuit), violations',
    '  stream on (default). Caches: one shared entry for `/ping`, 60 s, measured on hits (the handler never runs).',
    '- Anchors: @nestjs/throttler with one named throttler per tier and ThrottlerStorageRedisService (given the',
    '  URL), ThrottlerGuard global; rate-limiter-flexible: one RateLimiterRedis per tier in a RateLimiterUnion',
    '  (consumed in parallel) behind a global guard keyed by `req.ip`, setting X-RateLimit-* of the tightest tier',
    '  as its Express example does; @nestjs/cache-manager: CacheModule over `new Keyv({ store: new KeyvRedis(url) })`,',
    '  CacheInterceptor global, `@CacheTTL(60_000)`. Every limiter sends its default headers.',
    '- `floor`: not a limiter. A global guard sends one `EVALSHA` per request (a script of `HMGET`, `HSET` and',
    '  `PEXPIRE` on a hash keyed by `req.ip`, through ioredis with its defaults), awaits it and lets the request',
    '  through: what one Redis command per request costs a Nest app on the machine of that run. (nestjs-redis-shield',
    '  sends fewer under load: one script call decides the checks an instance starts in one event-loop turn.)',
    '- `× bare`, `× anchor`: the ratio of req/s within each round, then the median over rounds; `× bare` divides',
    '  by the bare app of the same adapter, and a `(fastify)` variant’s anchors run on Fastify too.',
    '- `p99 vs anchor`: the ratio of p99 latency to the anchor’s within each round, median over rounds (below',
    '  1.00: ours is faster), then both p99 medians; autocannon reports latency in whole milliseconds.',
    '- `Redis cmds/req`, `bytes to Redis/req`: top-level commands and bytes the app sent, counted by a RESP proxy',
    `  in a separate run of ${int(SETTINGS.countedRequests)} requests (after SCRIPT FLUSH, FLUSHALL and a warm-up),`,
    '  never in the timed rounds; background calls (cache statistics, violation flushes) are included.',
    '- `app CPU µs/req`: `process.cpuUsage()` (user + system) of the variant process over the timed run / requests;',
    '  median over rounds.',
    `- Memory: FLUSHALL, one warm-up request, then ${int(SETTINGS.memoryClients)} requests each from a distinct`,
    '  X-Forwarded-For address (50 connections): Redis `used_memory` delta / clients. Active expiry is paused',
    '  meanwhile (`DEBUG SET-ACTIVE-EXPIRE 0`) so that no 10 s burst key expires before the measurement.',
    `- Flood: tiers minute ${FLOOD_LIMIT} / 60 s, hour ${FLOOD_LIMIT} / 3 600 s, burst ${FLOOD_LIMIT} / 10 s (over ` +
      'all three, so the client',
    `  stays rejected across window boundaries); ${FLOOD_LIMIT} requests one after another exhaust it, a ` +
      `${SETTINGS.warmupFirst} s warm-up as the variants get, then ${CONNECTIONS} connections for ${SETTINGS.floodSeconds} s`,
    '  (req/s, CPU). Redis calls: the same again through the proxy for ' +
      `${SETTINGS.countedFloodSeconds} s, counted after the ${FLOOD_LIMIT} requests.`,
    '- A `(fastify)` flood runs on Fastify and is compared with `shield-limit (fastify)`, the others with',
    '  `shield-limit`. The `shield-flood` variants (block cache and violation stream on, the defaults) run',
    '  the same flood in the timed rounds, every timed request a 429 (the warm-up exhausts the client), so',
    '  target 20.4 is a median of same-round ratios to the allowed path, not one run.',
    blockCacheOption
      ? '- `localBlockCache` exists in this build: floods run with it on (default) and off.'
      : '- `RateLimitModuleOptions` has no `localBlockCache` in this build: floods run with the library as it is.',
  ];

  const versions = packageVersions();
  const versionLines = versions.map(([name, version]) => `- ${name} ${version}`);
  const machineLines = [
    `- CPU: ${m.cpu}, ${m.cores} cores (app, Redis and load generator share them)`,
    `- RAM: ${fixed(m.ramGiB, 1)} GiB; ${m.os}`,
    `- Node ${m.node}; Redis ${redisVersion}`,
    `- 1-minute load average: ${fixed(loadAtStart)} at the start, ${fixed(loadavg()[0])} at the end (other ` +
      'processes on the machine skew every figure)',
    `- nestjs-redis-shield at ${libraryRevision()}`,
  ];
  const date = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');

  const stdout = [
    `== npm run bench (${describeSettings()}) ==`,
    '',
    mainTable,
    '',
    'Redis commands per request (counted run):',
    ...commandLines,
    '',
    'Redis memory per client:',
    memoryTable,
    '',
    'Flood: one over-limit client, 50 connections:',
    floodTable,
    '',
    'Metrics and violation stream:',
    ...costs,
    '',
    'Targets (issue 20, with issue 18’s L1 line and issue 10’s lines), as measured:',
    targets,
    '',
    'Problems:',
    ...problemLines,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${fixed(m.ramGiB, 1)} GiB, Node ${m.node}, Redis ${redisVersion}; ` +
      `load average ${fixed(loadAtStart)} at the start, ${fixed(loadavg()[0])} at the end`,
    `Duration of bench.mjs: ${total} (${phases.map(({ name, ms }) => `${name} ${duration(ms)}`).join('; ')})`,
  ].join('\n');

  const markdown = [
    '# Benchmark results',
    '',
    `Written by \`${command}\` (bench/bench.mjs) on ${date}; ${describeSettings()}.`,
    'Every number below was printed by that run. Re-run it to refresh this file.',
    '',
    '## Throughput, latency, Redis traffic and CPU per request',
    '',
    mainTable,
    '',
    '### Redis commands per request, by command (counted run)',
    '',
    ...commandLines,
    '',
    '## Redis memory per client',
    '',
    memoryTable,
    '',
    '## Flood: one over-limit client, 50 connections, all rejected',
    '',
    floodTable,
    '',
    '## Cost of metrics and of the violation stream',
    '',
    ...costs,
    '',
    '## Targets (issue 20, with issue 18’s L1 line and issue 10’s lines), as measured by this run',
    '',
    targets,
    '',
    '## Method',
    '',
    ...methodLines,
    '',
    '## Machine',
    '',
    ...machineLines,
    '',
    '## Versions',
    '',
    ...versionLines,
    '',
    '## Run',
    '',
    `- Duration of bench/bench.mjs: ${total} (the build and \`npm ci\` before it not included)`,
    ...phaseLines,
    '',
    '## Problems seen during the run',
    '',
    ...problemLines,
    '',
  ].join('\n');
  return { stdout, markdown };
}

/**
 * `0.95 × throttler: 19 vs 20 ms`: the median of same-round p99 ratios to `anchor`, then
 * both p99 medians over rounds (autocannon reports whole milliseconds, so a ratio moves in steps).
 */
function p99VersusAnchor(row, { anchor, p99Ratio }, summary) {
  const theirs = summary.find((other) => other.name === anchor)?.p99;
  return `${fixed(p99Ratio)} × ${anchor}: ${fixed(row.p99, 0)} vs ${fixed(theirs, 0)} ms`;
}

/** Target 7 of issue 10: what metrics and the violation stream cost. */
function costLines(summary, floods) {
  const lines = [];
  const plain = summary.find((row) => row.name === 'shield-limit');
  const metrics = summary.find((row) => row.name === 'shield-limit+metrics');
  if (plain && metrics) {
    const ratio = metrics.anchors.find(({ anchor }) => anchor === 'shield-limit')?.ratio;
    lines.push(
      `- Metrics (ShieldMetricsModule), allowed path: ${fixed(ratio)} × shield-limit's req/s (median of same-round ` +
        `ratios); app CPU per request ${fixed(metrics.cpu, 0)} vs ${fixed(plain.cpu, 0)} µs ` +
        `(${signed(metrics.cpu - plain.cpu, 1)} µs, medians over rounds).`,
    );
  }
  const flood = (name) => floods.find((run) => run.variant === name);
  for (const [label, on, off] of [
    [
      'Violation stream, flood with the block cache on',
      'shield (block cache on, stream on)',
      'shield (block cache on, stream off)',
    ],
    [
      'Violation stream, flood with the block cache off',
      'shield (block cache off, stream on)',
      'shield (block cache off, stream off)',
    ],
    ['Metrics, flood', 'shield (block cache on, stream on, metrics)', 'shield (block cache on, stream on)'],
  ]) {
    const [a, b] = [flood(on), flood(off)];
    if (!a || !b) continue;
    lines.push(
      `- ${label}: ${fixed(a.timed.rps / b.timed.rps)} × req/s (one run each, noisier than the rounds); app CPU ` +
        `per request ${fixed(a.cpuPerRequest, 0)} vs ${fixed(b.cpuPerRequest, 0)} µs ` +
        `(${signed(a.cpuPerRequest - b.cpuPerRequest, 1)} µs).`,
    );
  }
  return lines;
}

/** A measured value against a lower bound, for {@link verdict}. */
function atLeast(value, bound) {
  return { value, ok: value >= bound };
}

/** A measured value against an upper bound, for {@link verdict}. */
function atMost(value, bound) {
  return { value, ok: value <= bound };
}

/** A measured value equal to `expected` to two decimals (a counted run includes the odd background call). */
function roughly(value, expected) {
  return { value, ok: Math.round(value * 100) === Math.round(expected * 100) };
}

/** `yes` when every check passes, `no` otherwise; `not measured` when a value is missing (a variant failed). */
function verdict(...checks) {
  if (checks.some(({ value }) => !Number.isFinite(value))) return 'not measured';
  return checks.every(({ ok }) => ok) ? 'yes' : 'no';
}

/** Whether a timed variant is nestjs-redis-shield (else an anchor or a bare app). */
function isOurs(name) {
  const config = VARIANTS.find((variant) => variant.name === name)?.config ?? {};
  return config.limiter === 'shield' || config.cache === 'shield';
}

/**
 * The performance targets next to what this run measured, every value from this run:
 * issue 20's targets 1–7 (point 5, Fastify, as one row per ratio that has Fastify
 * variants), issue 18's L1 line, and issue 10's Redis traffic, memory, flood and metrics lines.
 */
function targetTable(summary, memory, floods, counted) {
  const missing = {
    bare: Number.NaN,
    cpuOverBare: Number.NaN,
    commands: Number.NaN,
    bytes: Number.NaN,
    cpu: Number.NaN,
    rps: Number.NaN,
  };
  const noAnchor = { ratio: Number.NaN, p99Ratio: Number.NaN, cpuDelta: Number.NaN };
  const row = (name) => summary.find((r) => r.name === name) ?? { ...missing, name, anchors: [] };
  const versus = (name, other) => row(name).anchors.find((a) => a.anchor === other) ?? noAnchor;
  const rows = [];
  const add = (issue, target, measured, met) => rows.push([issue, target, measured, met]);
  const on = (adapter, name) => (adapter === 'fastify' ? `${name} (fastify)` : name);
  const floodOn = (adapter) =>
    floods.find(
      (run) =>
        run.variant ===
        (adapter === 'fastify' ? 'shield (fastify, block cache on, stream on)' : 'shield (block cache on, stream on)'),
    );

  /** Target 1 on `adapter`: the Redis hit (L1 off) against cache-manager, req/s and app CPU. */
  const cacheHit = (issue, adapter) => {
    const hit = row(on(adapter, 'shield-cache'));
    const anchor = row(on(adapter, 'cache-manager'));
    const { ratio, cpuDelta } = versus(hit.name, anchor.name);
    add(
      issue,
      'cache hit (Redis) ≥ 1.1 × cache-manager, app CPU per hit ≤ cache-manager’s',
      `${fixed(ratio)} × cache-manager; app CPU ${fixed(hit.cpu, 0)} vs ${fixed(anchor.cpu, 0)} µs/req ` +
        `(${signed(cpuDelta)} µs, same round)`,
      verdict(atLeast(ratio, 1.1), atMost(cpuDelta, 0)),
    );
  };
  /** Target 2 on `adapter` (no rate-limiter-flexible variant on Fastify). */
  const limitCheck = (issue, adapter) => {
    const limit = row(on(adapter, 'shield-limit'));
    const floor = row(on(adapter, 'floor'));
    // Same-round ratios to the limiter anchors of `adapter` (no rate-limiter-flexible variant on Fastify).
    const anchorRatios = (name) => ({
      throttler: versus(name, on(adapter, 'throttler')).ratio,
      rlf: adapter === 'fastify' ? undefined : versus(name, 'rlf').ratio,
    });
    const { throttler, rlf } = anchorRatios(limit.name);
    const { throttler: floorThrottler, rlf: floorRlf } = anchorRatios(floor.name);
    add(
      issue,
      'limit ≥ 0.90 × bare, ≥ 1.5 × throttler, ≥ 1.3 × rlf; guard app CPU ≤ bare + 25 µs',
      `${fixed(limit.bare)} × bare, ${fixed(throttler)} × throttler, ` +
        `${rlf === undefined ? 'rlf not run on Fastify' : `${fixed(rlf)} × rlf`}; ` +
        `${signed(limit.cpuOverBare)} µs app CPU over bare (same round); ` +
        `the floor (one script call, nothing else): ${fixed(floor.bare)} × bare, ${fixed(floorThrottler)} × throttler` +
        `${floorRlf === undefined ? '' : `, ${fixed(floorRlf)} × rlf`}, ${signed(floor.cpuOverBare)} µs`,
      verdict(
        atLeast(limit.bare, 0.9),
        atLeast(throttler, 1.5),
        ...(rlf === undefined ? [] : [atLeast(rlf, 1.3)]),
        atMost(limit.cpuOverBare, 25),
      ),
    );
  };
  /**
   * Target 4 on `adapter`: the flood variant (block cache and violation stream on, the
   * defaults) against the allowed path of its adapter, median of same-round ratios.
   */
  const floodVersusAllowed = (issue, adapter) => {
    const flood = row(on(adapter, 'shield-flood'));
    const allowed = on(adapter, 'shield-limit');
    const { ratio } = versus(flood.name, allowed);
    add(
      issue,
      'flood (block cache on) ≥ 1.0 × the allowed path, req/s',
      `${fixed(ratio)} × ${allowed} (${fixed(flood.cpu, 0)} vs ${fixed(row(allowed).cpu, 0)} µs app CPU/req); ` +
        'median of same-round ratios',
      verdict(atLeast(ratio, 1.0)),
    );
  };
  /** Target 3 on `adapter`: the limit and a cache hit against throttler with cache-manager. */
  const limitAndHit = (issue, adapter) => {
    const both = row(on(adapter, 'shield-limit-cache'));
    const ratio = versus(both.name, on(adapter, 'throttler+cache-manager')).ratio;
    add(
      issue,
      'limit + cache hit ≥ 1.5 × throttler + cache-manager',
      `${fixed(ratio)} × throttler+cache-manager; ${fixed(both.commands)} Redis cmd/req`,
      verdict(atLeast(ratio, 1.5)),
    );
  };
  /** Target 6 on `adapter`: the L1 hit against bare and cache-manager, no cache command. */
  const l1Hit = (issue, adapter) => {
    const l1 = row(on(adapter, 'shield-cache-l1'));
    const { ratio } = versus(l1.name, on(adapter, 'cache-manager'));
    add(
      issue,
      'L1 hit ≥ 0.95 × bare, ≥ 1.3 × cache-manager, 0 Redis commands for the cache',
      `${fixed(l1.bare)} × bare, ${fixed(ratio)} × cache-manager; ${fixed(l1.commands, 3)} cmd/req ` +
        '(the statistics flush, once per second)',
      verdict(atLeast(l1.bare, 0.95), atLeast(ratio, 1.3), atMost(l1.commands, 0.01)),
    );
  };

  cacheHit('20.1', 'express');
  limitCheck('20.2', 'express');
  limitAndHit('20.3', 'express');
  floodVersusAllowed('20.4', 'express');
  cacheHit('20.5 (20.1 on Fastify)', 'fastify');
  limitCheck('20.5 (20.2 on Fastify)', 'fastify');
  limitAndHit('20.5 (20.3 on Fastify)', 'fastify');
  floodVersusAllowed('20.5 (20.4 on Fastify)', 'fastify');
  l1Hit('20.5 (20.6 on Fastify)', 'fastify');
  l1Hit('20.6', 'express');
  // Target 7: one row per variant of ours, against the anchors it replaces (not against our own variants).
  for (const mine of summary.filter((candidate) => isOurs(candidate.name))) {
    const replaced = mine.anchors.filter(({ anchor }) => !isOurs(anchor));
    if (replaced.length === 0) continue;
    add(
      '20.7',
      `p99 of ${mine.name} ≤ the anchor’s (median of same-round ratios)`,
      replaced.map((anchor) => p99VersusAnchor(mine, anchor, summary)).join(', '),
      verdict(...replaced.map(({ p99Ratio }) => atMost(p99Ratio, 1.0))),
    );
  }

  const l1 = row('shield-cache-l1');
  add(
    '18',
    'L1 hit ≥ 1.0 × bare, 0 Redis commands for the cache per L1 hit',
    `${fixed(l1.bare)} × bare; ${fixed(l1.commands, 3)} cmd/req`,
    verdict(atLeast(l1.bare, 1.0), atMost(l1.commands, 0.01)),
  );
  const stale = row('shield-cache-stale');
  add(
    '18',
    'stale serve (reported)',
    `${fixed(versus(stale.name, 'cache-manager').ratio)} × cache-manager, ${fixed(stale.bare)} × bare; ` +
      `${fixed(stale.commands)} cmd/req (a read unless this instance refreshes the entry, then its L1 copy answers; plus the refreshes' commands)`,
    'reported',
  );

  const limit = row('shield-limit');
  const concurrency = row('shield-limit+concurrency');
  if (concurrency) {
    // The release is the one other script: sent once the response is over, never awaited by a request.
    const byName = [...(counted.get(concurrency.name)?.byName ?? [])];
    const releases = byName
      .filter(([name]) => name.includes('Releases one request'))
      .reduce((sum, [, n]) => sum + n, 0);
    const requests = counted.get(concurrency.name)?.requests || Number.NaN;
    const perRequest = releases / requests;
    // Before the response only the limit script goes out (one call decides a turn's requests:
    // fewer than one per request under load); anything else but the background PING would be
    // a round trip the slot added.
    const others =
      byName
        .filter(
          ([name]) => !name.includes('Releases one request') && !name.includes('Decides every tier') && name !== 'PING',
        )
        .reduce((sum, [, n]) => sum + n, 0) / requests;
    add(
      '19',
      'a concurrency tier adds no round trip: the slot is taken by the limit script itself',
      `${fixed(concurrency.commands - perRequest)} cmd/req before the response (limit only: ` +
        `${fixed(limit.commands)}), ${fixed(others)} of them other than the limit script; ` +
        `${fixed(perRequest)} release/req after it; ` +
        `${fixed(versus(concurrency.name, 'shield-limit').ratio)} × shield-limit req/s`,
      verdict(atMost(concurrency.commands - perRequest, 1.005), atMost(others, 0.005)),
    );
  }
  const cache = row('shield-cache');
  const both = row('shield-limit-cache');
  add(
    '10',
    '≤ 1 Redis command per limit check (one call decides a turn’s checks), 1 per cache hit; ≤ 300 B per limit check',
    `limit ${fixed(limit.commands)} cmd, ${fixed(limit.bytes, 0)} B; cache hit ${fixed(cache.commands)} cmd; ` +
      `limit + hit ${fixed(both.commands)} cmd`,
    verdict(atMost(limit.commands, 1.005), roughly(cache.commands, 1), atMost(limit.bytes, 300)),
  );
  const mem = memory.find((run) => run.variant === 'shield-limit');
  add(
    '10',
    'Redis memory per client (3 tiers) ≤ 200 B',
    `${fixed(mem?.perClient, 1)} B`,
    verdict(atMost(mem?.perClient ?? Number.NaN, 200)),
  );
  const flood = floodOn('express');
  if (flood) {
    // The limit check is the command the allowed path sends once per request.
    const [limitCommand] = [...(counted.get('shield-limit')?.byName ?? [])].sort((a, b) => b[1] - a[1])[0] ?? [];
    const limitCalls = flood.counts.byName.get(limitCommand) ?? 0;
    const otherCalls = flood.counts.commands - limitCalls;
    add(
      '10',
      'flood, block cache on: ≤ 1 Redis call per client per reset window',
      `${int(limitCalls)} limit checks + ${int(otherCalls)} other calls (violation stream) in a ` +
        `${fixed(flood.countedRun.seconds, 1)} s flood (one window)`,
      verdict(atMost(limitCalls, 1)),
    );
  }
  const metrics = row('shield-limit+metrics');
  const metricsRatio = versus(metrics.name, 'shield-limit').ratio;
  add(
    '10',
    'metrics + violation stream < 5 % of req/s, or their CPU µs reported',
    `metrics: ${fixed(metricsRatio)} × req/s, ${signed(metrics.cpu - limit.cpu, 0)} µs app CPU/req ` +
      '(violation stream: see the cost lines)',
    verdict(atLeast(metricsRatio, 0.95)) === 'no' ? 'no; CPU reported' : verdict(atLeast(metricsRatio, 0.95)),
  );
  return markdownTable(['issue', 'target', 'measured', 'met'], rows);
}

// --- helpers ---

/** Runs `fn`; a failure becomes a problem of the run (named `where`) instead of ending it. */
async function attempt(where, fn) {
  try {
    return await fn();
  } catch (error) {
    check(
      where,
      String(error?.stack ?? error)
        .split('\n')
        .slice(0, 6)
        .join(' / '),
    );
    return undefined;
  }
}

async function phase(name, fn) {
  const started = Date.now();
  log(`-- ${name}`);
  const result = await fn();
  phases.push({ name, ms: Date.now() - started });
  return result;
}

function check(where, problem) {
  if (!problem) return;
  problems.push(`${where}: ${problem}`);
  log(`PROBLEM ${where}: ${problem}`);
}

async function usedMemory() {
  return Number(/used_memory:(\d+)/.exec(await admin.info('memory'))[1]);
}

/** Distinct addresses in 198.18.0.0/15 (the benchmarking range): only ever a header value. */
function clientAddress(i) {
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
}

function hasBlockCacheOption() {
  const declarations = join(ROOT, 'libs/nestjs-redis-shield/dist/rate-limit/engine/rate-limit.options.d.ts');
  return existsSync(declarations) && readFileSync(declarations, 'utf8').includes('localBlockCache');
}

/** A variant without limiter or cache: the baseline of its adapter. */
function isBare(variant) {
  return !variant.config.limiter && !variant.config.cache;
}

/** The bare app of the variant's adapter, which its `× bare` divides by. */
function bareOf(variant) {
  return variant.config.adapter === 'fastify' ? 'bare (fastify)' : 'bare';
}

function versionOf(name) {
  return packageVersions().find(([known]) => known === name)?.[1] ?? '?';
}

function describeSettings() {
  return (
    `${SETTINGS.rounds} rounds × ${SETTINGS.seconds} s, ${CONNECTIONS} connections` +
    `${quick ? ', --quick' : ''}, ${int(SETTINGS.memoryClients)} clients for memory`
  );
}

function positive(name, raw) {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1) {
    process.stderr.write(`bench: ${name} must be a positive integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return value;
}

function log(line) {
  process.stderr.write(`${line}\n`);
}
