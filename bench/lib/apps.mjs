// What the bench scripts (bench.mjs, ab.mjs, profile.mjs) share about the bench apps:
// their limits, compiling them, and reading numeric command-line options.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, startRedis } from './processes.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BENCH = join(ROOT, 'bench');

/** Limits no variant reaches in a run (the library caps limit × windowMs at 2^43). */
export const HIGH_TIERS = [
  { name: 'minute', limit: 1_000_000, windowMs: 60_000 },
  { name: 'hour', limit: 2_000_000, windowMs: 3_600_000 },
  { name: 'burst', limit: 1_000_000, windowMs: 10_000 },
];

/**
 * `tsc -p bench/tsconfig.json` (bench/apps → bench/dist), unless bench/dist is newer than
 * every source. Returns whether it compiled.
 */
export function compileApps() {
  const built = join(BENCH, 'dist', '.tsbuildinfo');
  const sources = [join(BENCH, 'tsconfig.json'), join(ROOT, 'tsconfig.base.json'), ...listFiles(join(BENCH, 'apps'))];
  if (existsSync(built) && sources.every((file) => statSync(file).mtimeMs < statSync(built).mtimeMs)) return false;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(BENCH, 'tsconfig.json')], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`tsc -p bench/tsconfig.json failed:\n${result.stdout}${result.stderr}`);
  return true;
}

/**
 * A bench tool's whole run: compiles the apps, starts a redis-server of its own, calls
 * `main(redis)`, and kills every child process afterwards, whatever happened.
 */
export async function withBenchRedis(main) {
  try {
    compileApps();
    await main(await startRedis());
  } finally {
    await cleanup();
  }
}

/** The number after `--name` in `args`, or `fallback` when absent. */
export function numericOption(args, name, fallback) {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
}

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}
