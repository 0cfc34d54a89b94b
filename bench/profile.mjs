// Where a bench variant spends its CPU: runs one variant's app host under `--cpu-prof`,
// drives it with autocannon like the bench does, and prints the functions with the most
// self time and the files they live in. A tool for finding hot spots, not a measurement
// (the profiler itself slows the app down); compare variants with `npm run bench`.
//
//   node bench/profile.mjs [variant] [--fastify] [--seconds N] [--top N]
//
// variant: bare | shield-limit | floor | shield-cache | shield-cache-redis (L1 off) | shield-cache-stale | shield-both | throttler | cache-manager |
// shield-flood | shield-flood-no-block-cache
// (default shield-cache); --fastify: the same app on the Fastify adapter. Needs `npm run build` and the bench package installed (as
// `npm run bench` does); the profile is kept in tmp/profiles/.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HIGH_TIERS, numericOption, withBenchRedis } from './lib/apps.mjs';
import { load } from './lib/load.mjs';
import { sleep, tail, track } from './lib/processes.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = join(ROOT, 'bench');
const VARIANTS = {
  bare: {},
  'shield-limit': { limiter: 'shield' },
  // One script call per request and nothing else: what shield-limit costs at the least.
  floor: { limiter: 'floor' },
  'shield-cache': { cache: 'shield' },
  'shield-cache-redis': { cache: 'shield', l1: false },
  // Every hit stale (1 ms TTL, an hour of stale-while-revalidate), refreshed in the background.
  'shield-cache-stale': { cache: 'shield', stale: true },
  'shield-both': { limiter: 'shield', cache: 'shield' },
  throttler: { limiter: 'throttler' },
  'cache-manager': { cache: 'cache-manager' },
  // One client over its limit (limits of 10): every measured request is a 429.
  'shield-flood': { limiter: 'shield', flood: true },
  'shield-flood-no-block-cache': { limiter: 'shield', flood: true, blockCache: false },
};

const args = process.argv.slice(2);
const option = (name, fallback) => numericOption(args, name, fallback);
/** Options followed by a value (`--fastify` is a flag: a variant may come after it). */
const VALUED = new Set(['--seconds', '--top']);
const name = args.find((arg, i) => !arg.startsWith('--') && !VALUED.has(args[i - 1])) ?? 'shield-cache';
const config = VARIANTS[name];
if (!config) {
  process.stderr.write(`unknown variant ${name}; one of ${Object.keys(VARIANTS).join(', ')}\n`);
  process.exit(2);
}
const seconds = option('seconds', 10);
const top = option('top', 40);

await withBenchRedis(main);

async function main(redis) {
  const dir = join(ROOT, 'tmp', 'profiles');
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  const child = track(
    spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, join(BENCH, 'dist', 'main.js')], {
      cwd: BENCH,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  const output = tail(child);
  const reply = new Promise((resolve, reject) => {
    child.once('message', (message) => (message.ok ? resolve(message) : reject(new Error(message.error))));
    child.once('exit', () => reject(new Error(`app host exited:\n${output()}`)));
  });
  const { flood, ...appConfig } = { ...config, ...(args.includes('--fastify') ? { adapter: 'fastify' } : {}) };
  const tiers = flood ? HIGH_TIERS.map((tier) => ({ ...tier, limit: 10 })) : HIGH_TIERS;
  child.send({ seq: 1, type: 'start', config: { ...appConfig, tiers, redisUrl: redis.url } });
  const { port } = await reply;
  await load({ port, seconds: 2 }); // warm-up
  const result = await load({ port, seconds });
  print(
    `${name}${appConfig.adapter === 'fastify' ? ' (fastify)' : ''}: ${Math.round(result.rps)} req/s under the profiler, statuses ${JSON.stringify(result.statuses)}`,
  );
  // SIGINT lets node write the profile; the host exits on disconnect too.
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await Promise.race([exited, sleep(10_000)]);
  const file = readdirSync(dir).find((entry) => !before.has(entry) && entry.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written:\n${output()}`);
  summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')), join(dir, file));
}

/** Self time per function and per file, from a V8 `.cpuprofile`. */
function summarize(profile, path) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const intervals = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (intervals[i] ?? 0));
  }
  const total = [...self.values()].reduce((sum, value) => sum + value, 0);
  const functions = new Map();
  const files = new Map();
  for (const [id, time] of self) {
    const frame = byId.get(id).callFrame;
    const file = shorten(frame.url) || `(${frame.functionName || 'native'})`;
    const key = `${frame.functionName || '(anonymous)'}  ${file}:${frame.lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + time);
    files.set(file, (files.get(file) ?? 0) + time);
  }
  const ranking = (title, map, count) => {
    print(`\n${title}`);
    for (const [key, time] of [...map].sort((a, b) => b[1] - a[1]).slice(0, count)) {
      print(`${((100 * time) / total).toFixed(1).padStart(5)} %  ${key}`);
    }
  };
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map();
  for (const [id, time] of self) {
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at).callFrame;
      if (!frame.url) continue;
      const key = `${frame.functionName || '(anonymous)'}  ${shorten(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + time);
    }
  }
  ranking('self time by file', files, 25);
  ranking('self time by function', functions, top);
  ranking('inclusive time by function', inclusive, top);
  print(`\nprofile: ${path}`);
}

function shorten(url) {
  return url
    .replace(/^file:\/\//, '')
    .replace(`${ROOT}`, '')
    .replace(/.*node_modules\//, '~/');
}

/** One line to stdout (the bench prints its report with process.stdout, not console). */
function print(line) {
  process.stdout.write(`${line}\n`);
}
