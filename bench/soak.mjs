// Soak: two demo instances (dist/main.js) share one redis-server under autocannon load while
// Redis is SIGKILLed twice and restarted empty on the same port. Exits 1 on any 5xx, any
// connection error or timeout, or any over-admission outside the outage windows (see
// `judge` below for the exact rule). Loopback only; every child is killed on exit and on SIGINT.
// Usage: npm run soak [-- --seconds 60 --clients 16 --outage 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { SignJWT } from 'jose';
import { freePort, LOOPBACK, pings, sleep } from './lib/processes.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '16' },
    outage: { type: 'string', default: '3' },
  },
});
const seconds = positiveInteger('--seconds', values.seconds);
const clients = positiveInteger('--clients', values.clients);
const outageSeconds = positiveInteger('--outage', values.outage);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const JWT_SECRET = 'soak-jwt-secret-0123456789abcdef0123';
const IP_HASH_SECRET = 'soak-ip-hash-secret-0123456789abcdef';
/** The demo's default policy for the run: generous, finite, and reached by every client. */
const LIMITS = { perMinute: 600, perHour: 36_000, burst: 100, burstWindowSeconds: 10 };
/**
 * The demos' per-request Redis deadline, in ms: the demo's default (REDIS_COMMAND_TIMEOUT_MS),
 * or SOAK_DEADLINE_MS. Any breaker opening without a kill shows in the state log below and
 * fails the run, since the fallback's per-instance counting would then be judged as if Redis
 * were healthy.
 */
const DEADLINE_MS = Number(process.env.SOAK_DEADLINE_MS ?? 100);
/** An outage window runs from the kill to this long after the restart (reconnect backoff + breaker probe). */
const RECOVERY_MARGIN_MS = 5000;
/** The kills, as fractions of the run. */
const KILLS_AT = [0.25, 0.6];
const START_TIMEOUT_MS = 15_000;

// --- children: tracked from spawn to exit, killed on every way out ---

const children = new Set();
/** Connection state changes the demos logged: `{ at, demo, state: 'down' | 'ready', reason }`. */
const redisStates = [];
const tempDirs = new Set();
let cleaning;

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function cleanup() {
  cleaning ??= (async () => {
    const exits = [...children].map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of children) child.kill('SIGKILL');
    await Promise.race([Promise.all(exits), sleep(5000)]);
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.stderr.write(`\nsoak: ${signal}, stopping every child\n`);
    cleanup().then(() => process.exit(130));
  });
}

// --- Redis: one server on a free loopback port, killed and restarted empty on that port ---

const redisDir = mkdtempSync(join(tmpdir(), 'soak-redis-'));
tempDirs.add(redisDir);
const redisPort = await freePort();
let redis;

async function startRedis() {
  const args = ['--port', String(redisPort), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no'];
  const child = track(spawn('redis-server', [...args, '--dir', redisDir], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const output = tail(child);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await pings(redisPort))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`redis-server did not start on port ${redisPort}:\n${output()}`);
    }
    await sleep(20);
  }
  redis = child;
}

async function killRedis() {
  const exited = new Promise((resolve) => redis.once('exit', resolve));
  redis.kill('SIGKILL');
  await exited;
}

// --- the demo: two instances of the build, sharing the Redis ---

async function startDemo(name) {
  const env = {
    PATH: process.env.PATH ?? '',
    NO_COLOR: '1',
    PORT: '0',
    REDIS_URL: `redis://${LOOPBACK}:${redisPort}`,
    REDIS_COMMAND_TIMEOUT_MS: String(DEADLINE_MS),
    JWT_SECRET,
    IP_HASH_SECRET,
    RATE_LIMIT_PER_MINUTE: String(LIMITS.perMinute),
    RATE_LIMIT_PER_HOUR: String(LIMITS.perHour),
    RATE_LIMIT_BURST: String(LIMITS.burst),
    RATE_LIMIT_BURST_WINDOW_SECONDS: String(LIMITS.burstWindowSeconds),
  };
  const child = track(spawn(process.execPath, [join(ROOT, 'dist/main.js')], { cwd: ROOT, env, stdio: 'pipe' }));
  const output = tail(child, (line) => {
    const state = /\[Redis:default\] (down|ready) \((.*)\)/.exec(line);
    if (state) redisStates.push({ at: Date.now(), demo: name, state: state[1], reason: state[2] });
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const port = /listening on http:\/\/\S+?:(\d+)\/api\/v1/.exec(output())?.[1];
    if (port) return { name, url: `http://${LOOPBACK}:${port}`, output, child };
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`demo ${name} did not start (is the build there? npm run soak builds it):\n${output()}`);
    }
    await sleep(20);
  }
}

// --- the run ---

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`soak: ${error.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
// Bounded: nothing the run started (autocannon timers, sockets) may keep the process alive.
process.exit();

async function main() {
  await startRedis();
  const demos = await Promise.all([startDemo('A'), startDemo('B')]);
  // Client k sends `Authorization: Bearer <token k>` on one connection to each instance.
  const tokens = await Promise.all(
    Array.from({ length: clients }, (_, k) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`soak-client-${k}`)
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(new TextEncoder().encode(JWT_SECRET)),
    ),
  );
  const paths = ['/api/v1/models', '/api/v1/models/gpt-4', '/api/v1/models/claude-3-haiku'];
  /** Every response: [client, sentAtMs, receivedAtMs, status] (epoch ms, sent = received - duration). */
  const responses = [];
  let connection = 0;

  process.stdout.write(
    `soak: redis-server on ${LOOPBACK}:${redisPort}, demo A ${demos[0].url}, demo B ${demos[1].url}; ` +
      `${clients} clients × 2 instances (one keep-alive connection each), ${seconds} s, ` +
      `Redis deadline ${DEADLINE_MS} ms, ` +
      `Redis SIGKILLed at ${KILLS_AT.map((f) => `${Math.round(f * seconds)} s`).join(' and ')} ` +
      `and restarted empty ${outageSeconds} s later\n`,
  );
  const startedAt = Date.now();
  const outages = [];
  const chaos = (async () => {
    for (const fraction of KILLS_AT) {
      await sleep(Math.max(0, startedAt + fraction * seconds * 1000 - Date.now()));
      const killedAt = Date.now();
      await killRedis();
      await sleep(outageSeconds * 1000);
      await startRedis();
      const restartedAt = Date.now();
      outages.push({ killedAt, restartedAt, until: restartedAt + RECOVERY_MARGIN_MS });
    }
  })();
  const load = autocannon({
    url: demos.map((demo) => demo.url),
    connections: clients * 2,
    duration: seconds,
    timeout: 10,
    requests: paths.map((path) => ({ method: 'GET', path })),
    // Connection i goes to url i % 2 (autocannon's rule), so client i >> 1 has one on each instance.
    setupClient(client) {
      const k = connection++ >> 1;
      client.setRequests(
        paths.map((path) => ({ method: 'GET', path, headers: { authorization: `Bearer ${tokens[k]}` } })),
      );
      client.on('response', (status, _bytes, durationMs) => {
        const receivedAt = Date.now();
        responses.push([k, receivedAt - durationMs, receivedAt, status]);
      });
    },
  });
  const [result] = await Promise.all([load, chaos]);
  const endedAt = Date.now();

  for (const demo of demos) {
    if (demo.child.exitCode !== null) throw new Error(`demo ${demo.name} exited during the run:\n${demo.output()}`);
  }
  return report({ result, responses, outages, startedAt, endedAt });
}

/**
 * The over-admission rule, per client and per tier (limit L per window W):
 * - windows are the library's own: aligned to the epoch (`floor(t / W)`), on the Redis clock,
 *   which is this machine's clock since Redis runs here;
 * - a window is judged only when it does not intersect any outage window
 *   [kill, restart + 5 s]: during one, each instance's in-memory fallback admits up to L on
 *   its own, and the restarted Redis has forgotten the window's earlier admissions;
 * - a 2xx counts in window w when its whole request, [sent, received], lies in w (the decision
 *   was made inside it); one straddling a boundary is left out and reported;
 * - the sliding-window algorithm guarantees at most L per aligned window (its estimate is
 *   never below the current window's count), so more than L 2xx in a judged window is
 *   over-admission for certain.
 */
function judge(responses, outages, startedAt, endedAt, limit, windowMs) {
  const first = Math.floor(startedAt / windowMs);
  const last = Math.floor(endedAt / windowMs);
  const judged = new Set();
  for (let w = first; w <= last; w++) {
    const [from, to] = [w * windowMs, (w + 1) * windowMs];
    if (!outages.some((outage) => outage.killedAt < to && outage.until > from)) judged.add(w);
  }
  const perClient = Array.from({ length: clients }, () => ({ counts: new Map(), straddling: 0, outside: 0 }));
  for (const [k, sent, received, status] of responses) {
    if (status < 200 || status >= 300) continue;
    const w = Math.floor(sent / windowMs);
    const mine = perClient[k];
    if (Math.floor(received / windowMs) !== w) {
      if (judged.has(w) || judged.has(w + 1)) mine.straddling += 1;
    } else if (judged.has(w)) {
      mine.counts.set(w, (mine.counts.get(w) ?? 0) + 1);
    } else {
      mine.outside += 1;
    }
  }
  const rows = perClient.map(({ counts, straddling, outside }, k) => {
    const admitted = [...counts.values()].reduce((sum, n) => sum + n, 0);
    const worst = Math.max(0, ...counts.values());
    return { k, admitted, allowed: judged.size * limit, worst, straddling, outside, over: worst > limit };
  });
  return { judged: [...judged].sort((a, b) => a - b), rows, limit, windowMs };
}

function report({ result, responses, outages, startedAt, endedAt }) {
  const lines = [];
  const out = (line = '') => lines.push(line);
  const at = (ms) => `${((ms - startedAt) / 1000).toFixed(1)} s`;
  const statuses = {};
  for (const [, , , status] of responses) statuses[status] = (statuses[status] ?? 0) + 1;
  const serverErrors = responses.filter(([, , , status]) => status >= 500).length;
  const elapsedS = (endedAt - startedAt) / 1000;

  out();
  out('== load (autocannon 9.0.0) ==');
  out(
    `total requests: ${responses.length} in ${elapsedS.toFixed(1)} s (${Math.round(responses.length / elapsedS)} req/s)`,
  );
  out(`status counts: ${JSON.stringify(statuses)}`);
  out(`5xx: ${serverErrors}`);
  out(`connection errors: ${result.errors}, timeouts: ${result.timeouts}`);
  out(
    `latency (all responses): p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
  );
  out();
  out('== outage windows [SIGKILL, restart + 5 s] ==');
  for (const { killedAt, restartedAt, until } of outages) {
    out(`killed at ${at(killedAt)}, restarted empty at ${at(restartedAt)}, window until ${at(until)}`);
  }
  out();
  out('== Redis connection state as the demos logged it ==');
  const inOutage = (time) => outages.some((outage) => outage.killedAt <= time && time <= outage.until);
  const unplanned = redisStates.filter((event) => event.state === 'down' && !inOutage(event.at));
  for (const { at: time, demo, state, reason } of redisStates.filter((event) => event.at >= startedAt)) {
    const note = state === 'down' && !inOutage(time) ? '  <- outside every outage window' : '';
    out(`${at(time).padStart(7)}  demo ${demo}  ${state} (${reason})${note}`);
  }

  const tiers = [
    judge(responses, outages, startedAt, endedAt, LIMITS.burst, LIMITS.burstWindowSeconds * 1000),
    judge(responses, outages, startedAt, endedAt, LIMITS.perMinute, 60_000),
  ];
  let overAdmitted = 0;
  let reachedLimit = false;
  for (const [name, tier] of [
    ['burst', tiers[0]],
    ['minute', tiers[1]],
  ]) {
    out();
    out(`== over-admission, ${name} tier (${tier.limit} per ${tier.windowMs / 1000} s, epoch-aligned windows) ==`);
    if (tier.judged.length === 0) {
      out('no window of this tier lies entirely outside the outage windows: not judged');
      continue;
    }
    const spans = tier.judged.map((w) => `[${at(w * tier.windowMs)}, ${at((w + 1) * tier.windowMs)})`);
    out(`judged windows (outside every outage window): ${spans.join(' ')}`);
    out(
      `allowed = ${tier.limit} × judged windows; worst window = most 2xx in one judged window, at most ${tier.limit}`,
    );
    out('client   admitted  allowed  worst window  straddling (not counted)  2xx in windows not judged');
    for (const row of tier.rows) {
      out(
        `${String(row.k).padStart(6)}  ${String(row.admitted).padStart(9)}  ${String(row.allowed).padStart(7)}  ` +
          `${String(row.worst).padStart(12)}  ${String(row.straddling).padStart(24)}  ${String(row.outside).padStart(35)}` +
          (row.over ? `  OVER-ADMITTED (> ${tier.limit} in one window)` : ''),
      );
      if (row.over) overAdmitted += 1;
      // Straddling 2xx are left out, so a window can look up to 2 short of its limit.
      if (row.worst >= tier.limit - 2) reachedLimit = true;
    }
  }

  out();
  const failures = [];
  if (serverErrors > 0) failures.push(`${serverErrors} responses were 5xx`);
  if (result.errors > 0 || result.timeouts > 0) {
    failures.push(`${result.errors} connection errors, ${result.timeouts} timeouts`);
  }
  if (overAdmitted > 0) {
    const cause =
      unplanned.length > 0
        ? ` (a demo lost Redis outside them ${unplanned.length} time(s), see above: its fallback counted alone)`
        : '';
    failures.push(`${overAdmitted} client/tier pairs over-admitted outside the outage windows${cause}`);
  }
  if (!reachedLimit) failures.push('no client reached a limit in a judged window: the check proved nothing');
  out(failures.length === 0 ? 'soak: PASS' : `soak: FAIL: ${failures.join('; ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return failures.length === 0 ? 0 : 1;
}

// --- helpers ---

function positiveInteger(name, raw) {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1) {
    process.stderr.write(`soak: ${name} must be a positive integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return value;
}

/** The last 8 kB a child printed (stdout and stderr), each line also to `onLine`; the pipes are always drained. */
function tail(child, onLine = () => {}) {
  let text = '';
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.on('data', (chunk) => {
      const chunkText = chunk.toString('utf8');
      text = (text + chunkText).slice(-8192);
      const lines = (partial + chunkText).split('\n');
      partial = lines.pop();
      lines.forEach(onLine);
    });
  }
  return () => text;
}
