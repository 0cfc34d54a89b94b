// Where a bench app's garbage goes: runs one app host under V8's --trace-gc-nvp, drives it
// as the bench does (autocannon, 50 connections, after a warm-up) and prints, per request:
// bytes allocated, bytes that survived a minor GC (scavenge), bytes promoted to the old
// generation, and the pauses of minor and major GCs. Objects that outlive a request end
// in the old generation and cost major GCs; this finds them where a CPU profile shows only
// "(garbage collector)". A diagnostic, not a measurement of speed (that is `npm run bench`).
//
//   node bench/gc.mjs '<config as JSON>' [--seconds N]
//
// e.g. node bench/gc.mjs '{"cache":"shield","l1":false,"adapter":"fastify"}'
// Configs are bench/apps/config.ts BenchAppConfig without redisUrl and tiers (the bench's
// high limits are used), as for bench/ab.mjs. Needs `npm run build` and the bench package.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HIGH_TIERS, numericOption, withBenchRedis } from './lib/apps.mjs';
import { load } from './lib/load.mjs';
import { tail, track } from './lib/processes.mjs';

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const config = args.find((arg) => arg.startsWith('{'));
if (!config) {
  process.stderr.write("usage: node bench/gc.mjs '<config as JSON>' [--seconds N]\n");
  process.exit(2);
}
const seconds = numericOption(args, 'seconds', 5);

await withBenchRedis(async (redis) => {
  const child = track(
    spawn(process.execPath, ['--trace-gc-nvp', join(BENCH, 'dist', 'main.js')], {
      cwd: BENCH,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  const output = tail(child);
  let trace = '';
  child.stdout.on('data', (chunk) => (trace += chunk));
  const started = new Promise((resolve, reject) => {
    child.once('message', (message) => (message.ok ? resolve(message) : reject(new Error(message.error))));
    child.once('exit', () => reject(new Error(`app host exited:\n${output()}`)));
  });
  child.send({ seq: 1, type: 'start', config: { ...JSON.parse(config), tiers: HIGH_TIERS, redisUrl: redis.url } });
  const { port } = await started;
  await load({ port, seconds: 2 }); // warm-up: JIT, pools, caches
  const from = trace.length;
  const result = await load({ port, seconds });
  const gcs = parse(trace.slice(from));
  child.kill();
  const perRequest = (bytes) => `${Math.round(bytes / result.requests)} B/req`;
  const pause = (ms) => `${((ms * 1000) / result.requests).toFixed(2)} µs/req`;
  print(`${config}: ${result.requests} requests, ${Math.round(result.rps)} req/s`);
  print(
    `  minor GCs ${gcs.minor.count}: allocated ${perRequest(gcs.minor.allocated)}, ` +
      `survived ${perRequest(gcs.minor.survived)}, promoted ${perRequest(gcs.minor.promoted)}, ` +
      `pause ${pause(gcs.minor.pauseMs)}`,
  );
  print(`  major GCs ${gcs.major.count}: pause ${pause(gcs.major.pauseMs)}`);
});

/** Sums the `--trace-gc-nvp` lines (one per GC, `name=value` pairs; `gc=s` a scavenge, `gc=mc` a mark-compact). */
function parse(text) {
  const minor = { count: 0, allocated: 0, survived: 0, promoted: 0, pauseMs: 0 };
  const major = { count: 0, pauseMs: 0 };
  for (const line of text.split('\n')) {
    const fields = Object.fromEntries([...line.matchAll(/ ([a-z_.]+)=([0-9.]+)/g)].map(([, k, v]) => [k, Number(v)]));
    if (/ gc=s /.test(line)) {
      minor.count += 1;
      minor.allocated += fields.allocated ?? 0;
      minor.survived += fields.new_space_survived ?? 0;
      minor.promoted += fields.promoted ?? 0;
      minor.pauseMs += fields.pause ?? 0;
    } else if (/ gc=mc /.test(line)) {
      major.count += 1;
      major.pauseMs += fields.pause ?? 0;
    }
  }
  return { minor, major };
}

/** One line to stdout. */
function print(line) {
  process.stdout.write(`${line}\n`);
}
