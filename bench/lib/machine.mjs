// What the bench ran on and with: machine, runtimes and the version of every package used.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(BENCH, '..');

/** `{ cpu, cores, ramGiB, node, os }` of this machine. */
export function machine() {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    ramGiB: totalmem() / 2 ** 30,
    node: process.version,
    os: `${process.platform} ${process.arch}`,
  };
}

/**
 * The version of each package the apps and the driver load, resolved the way they resolve
 * it (bench/node_modules first, then the root's), plus what the anchors bundle.
 */
export function packageVersions() {
  const fromBench = createRequire(join(BENCH, 'apps', 'x.js'));
  const names = [
    'nestjs-redis-shield',
    '@nestjs/common',
    '@nestjs/core',
    '@nestjs/platform-express',
    'express',
    '@nestjs/platform-fastify',
    'fastify',
    'ioredis',
    'prom-client',
    'autocannon',
    '@nestjs/throttler',
    '@nest-lab/throttler-storage-redis',
    'rate-limiter-flexible',
    '@nestjs/cache-manager',
    'cache-manager',
    'keyv',
    '@keyv/redis',
  ];
  const versions = names.map((name) => [name, versionOf(fromBench, name)]);
  // Nested copies the anchors carry (cache-manager and @keyv/redis want keyv 5).
  for (const [owner, name] of [
    ['cache-manager', 'keyv'],
    ['@keyv/redis', '@redis/client'],
    ['@nestjs/platform-express', 'express'],
    ['@nestjs/platform-fastify', 'fastify'],
  ]) {
    const ownerDir = packageDir(fromBench, owner);
    if (!ownerDir) continue;
    const nested = versionOf(createRequire(join(ownerDir, 'x.js')), name);
    const top = versions.find(([known]) => known === name)?.[1];
    if (nested !== top) versions.push([`${name} (used by ${owner})`, nested]);
  }
  return versions;
}

/** The library's commit, and whether its sources differ from it. */
export function libraryRevision() {
  const git = (...args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'libs/nestjs-redis-shield/src') !== '';
  return dirty ? `${commit} + uncommitted changes in libs/nestjs-redis-shield/src` : commit;
}

function packageDir(require, name) {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    // Packages without `./package.json` in their exports: walk up from the entry point.
    try {
      let dir = dirname(require.resolve(name));
      while (!dir.endsWith(join('node_modules', name)) && dir !== dirname(dir)) dir = dirname(dir);
      return dir;
    } catch {
      return undefined;
    }
  }
}

function versionOf(require, name) {
  const dir = packageDir(require, name);
  if (!dir) return 'not installed';
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}
