import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type RedisServer, startRedis } from './harness/index.js';
import { REPO_ROOT } from './support/paths.js';

const run = promisify(execFile);
const LIBRARY = 'nestjs-redis-shield';
const ADMIN_KEY = 'package-scenario-admin-key';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

interface Manifest {
  dependencies?: Record<string, string>;
}

interface PackedFile {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** What the scenario app prints once it listens. */
interface Started {
  url: string;
  adapter: string;
  resolved: string;
  resolvedTerminus: string;
}

/** How a child process ended. */
interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The compiled scenario app running in a child process. */
interface ScenarioApp extends Started {
  /** Everything it printed so far, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within {@link STOP_TIMEOUT_MS}; how it exited. Idempotent. */
  stop(): Promise<Exit>;
}

const readJson = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;

/** Runs a command; a failure carries its stdout too (tsc reports type errors there). */
async function runShowingOutput(file: string, args: string[], cwd: string): Promise<void> {
  try {
    await run(file, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed\n${stdout}\n${stderr}`, { cause: error });
  }
}

/** The directory Node would load `name` from when required from `from`. */
function installedDir(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed above ${from}`);
  }
}

/** `manifest`'s runtime dependencies and theirs, as installed in the repository (name → directory). */
function dependencyClosure(manifest: Manifest, from: string, found = new Map<string, string>()): Map<string, string> {
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    if (found.has(name)) continue;
    const dir = installedDir(name, from);
    found.set(name, dir);
    dependencyClosure(readJson<Manifest>(join(dir, 'package.json')), dir, found);
  }
  return found;
}

/** `npm pack` with `args` into `destination`: what each tarball holds. */
async function pack(args: string[], cwd: string, destination: string): Promise<PackedFile[]> {
  const packed = await run('npm', ['pack', ...args, '--pack-destination', destination, '--json', '--silent'], {
    cwd,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(packed.stdout) as PackedFile[];
}

/** Starts the compiled app on a free port and waits for its JSON line. */
async function startApp(appDir: string, adapter: string, env: Record<string, string>): Promise<ScenarioApp> {
  const child: ChildProcess = spawn(process.execPath, [join(appDir, 'dist', 'main.js'), adapter], {
    cwd: appDir,
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    return exited;
  };
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const started = await new Promise<Started>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no JSON line within ${START_TIMEOUT_MS} ms\n${output()}`)),
        START_TIMEOUT_MS,
      );
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the app exited (${signal ?? `code ${code}`}) before listening\n${output()}`));
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout
          .split('\n')
          .slice(0, -1) // complete lines only
          .find((candidate) => candidate.startsWith('{'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as Started);
      });
    });
    return { ...started, output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Response-cache entry keys under `prefix` (a SCAN on the test's own Redis). */
async function cacheEntries(redis: RedisServer, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await redis.command(
      'SCAN',
      cursor,
      'MATCH',
      `${prefix}cache:response:*`,
      'COUNT',
      '1000',
    )) as [string, string[]];
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

async function waitForCacheEntry(redis: RedisServer, prefix: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  while ((await cacheEntries(redis, prefix)).length === 0) {
    if (Date.now() > deadline) throw new Error(`no cache entry under ${prefix} within 2 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The adoption scenario: packs the library as npm would publish it, installs the tarball
 * into a fresh Nest app (offline: peers resolve from the repository's node_modules above
 * the scratch folder, and the library's own dependencies are fed from there as tarballs),
 * compiles that app with plain tsc against the public entry points only, and runs it on
 * Express and on Fastify against a redis-server this test started.
 */
describe('the packed library in a fresh Nest app', () => {
  const scratch = join(REPO_ROOT, 'tmp', `package-scenario-${process.pid}-${Date.now()}`);
  const appDir = join(scratch, 'app');
  let tarballFiles: string[] = [];
  let redisStarted: Promise<RedisServer> | undefined;
  let redis: RedisServer | undefined;

  beforeAll(async () => {
    mkdirSync(join(scratch, 'deps'), { recursive: true });
    redisStarted = startRedis(); // meanwhile: pack, install, compile
    redisStarted.catch(() => {}); // awaited below; keeps a failed pack from leaving it unhandled

    const libraryDir = join(REPO_ROOT, 'libs', LIBRARY);
    const [library] = await pack(['--workspace', `libs/${LIBRARY}`], REPO_ROOT, scratch);
    tarballFiles = library.files.map((file) => file.path);

    // A user's npm would fetch these from the registry; offline, they come from the repository.
    const closure = dependencyClosure(readJson<Manifest>(join(libraryDir, 'package.json')), libraryDir);
    // --ignore-scripts: a folder's `prepare` (prom-client's is husky) would otherwise run.
    const deps =
      closure.size === 0 ? [] : await pack(['--ignore-scripts', ...closure.values()], scratch, join(scratch, 'deps'));
    const overrides = Object.fromEntries(deps.map((dep) => [dep.name, `file:${join(scratch, 'deps', dep.filename)}`]));
    expect(Object.keys(overrides).sort()).toEqual([...closure.keys()].sort());

    cpSync(fileURLToPath(new URL('./fixtures/package-app', import.meta.url)), appDir, { recursive: true });
    writeFileSync(
      join(appDir, 'package.json'),
      JSON.stringify({ name: 'package-scenario-app', private: true, type: 'module', overrides }, null, 2),
    );
    await runShowingOutput(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--legacy-peer-deps', join(scratch, library.filename)],
      appDir,
    );
    await runShowingOutput(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', appDir],
      appDir,
    );
    redis = await redisStarted;
  }, 120_000);

  afterAll(async () => {
    await redisStarted?.then(
      (server) => server.stop(),
      () => {},
    );
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the tarball ships the build and no tests or build info', () => {
    expect(tarballFiles).toEqual(
      expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/terminus/index.d.ts']),
    );
    expect(tarballFiles.filter((file) => /\.(spec|int-spec|e2e-spec)\.|tsbuildinfo/.test(file))).toEqual([]);
  });

  describe.each(['express', 'fastify'])('on %s', (adapter) => {
    // Each adapter's app gets its own key prefix: counters and entries are never shared.
    const prefix = `scenario-${adapter}:`;
    let app: ScenarioApp;
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${app.url}${path}`, { headers });

    beforeAll(async () => {
      app = await startApp(appDir, adapter, { REDIS_URL: redis!.url, REDIS_KEY_PREFIX: prefix, ADMIN_KEY });
    }, START_TIMEOUT_MS + STOP_TIMEOUT_MS);

    afterAll(async () => {
      await app?.stop();
    });

    it('loads both entry points from the installed tarball, not the workspace', () => {
      expect(app.adapter).toBe(adapter);
      const installed = join(appDir, 'node_modules', LIBRARY, 'dist');
      expect(realpathSync(fileURLToPath(app.resolved))).toBe(realpathSync(join(installed, 'index.js')));
      expect(realpathSync(fileURLToPath(app.resolvedTerminus))).toBe(
        realpathSync(join(installed, 'terminus', 'index.js')),
      );
    });

    it('@RateLimit({ perMinute: 3 }): rate-limit headers on every request, the 4th is a 429 with Retry-After', async () => {
      const admitted = [];
      for (let i = 0; i < 3; i++) admitted.push(await get('/quota'));
      expect(admitted.map((response) => response.status)).toEqual([200, 200, 200]);
      expect(admitted.map((response) => response.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0']);
      for (const [i, response] of admitted.entries()) {
        expect(response.headers.get('ratelimit-policy')).toBe('"minute";q=3;w=60');
        expect(response.headers.get('ratelimit')).toMatch(new RegExp(`^"minute";r=${2 - i};t=\\d+$`));
        expect(response.headers.get('x-ratelimit-limit')).toBe('3');
        expect(response.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
      }

      const sentAtSeconds = Math.floor(Date.now() / 1000);
      const rejected = await get('/quota');
      expect(rejected.status).toBe(429);
      const retryAfter = Number(rejected.headers.get('retry-after'));
      // Sliding window (the default): after the aligned minute ends, the previous minute's
      // 3 still count weighted by their overlap, so a 4th fits 60 / 3 s later at the latest.
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60 + 60 / 3);
      expect(rejected.headers.get('ratelimit')).toMatch(/^"minute";r=0;t=\d+$/);
      expect(rejected.headers.get('x-ratelimit-remaining')).toBe('0');
      const body = (await rejected.json()) as { reset_time: number };
      expect(body).toEqual({
        error: 'Rate limit exceeded',
        message: expect.any(String),
        reset_time: Number(rejected.headers.get('x-ratelimit-reset')),
        retry_after: retryAfter,
      });
      // The reset is never earlier than the retry time.
      expect(body.reset_time).toBeGreaterThanOrEqual(sentAtSeconds + retryAfter - 1);
    });

    it('@CacheTtl: MISS, then a HIT with the same body without running the handler; cache stats count both', async () => {
      const admin = { 'x-admin-key': ADMIN_KEY };
      const stats = async () => {
        const response = await get('/system/cache/stats', admin);
        expect(response.status).toBe(200);
        return (await response.json()) as { hits: number; misses: number };
      };
      const before = await stats();

      const miss = await get('/catalog');
      expect(miss.status).toBe(200);
      expect(miss.headers.get('x-cache-status')).toBe('MISS');
      const body = await miss.text();
      expect(JSON.parse(body)).toMatchObject({ items: ['alpha', 'beta'], calls: 1 });
      await waitForCacheEntry(redis!, prefix); // entries are written after the response

      const hit = await get('/catalog');
      expect(hit.status).toBe(200);
      expect(hit.headers.get('x-cache-status')).toBe('HIT');
      expect(await hit.text()).toBe(body);
      expect(hit.headers.get('content-type')).toBe(miss.headers.get('content-type'));
      // The guard runs first: a hit carries this request's own rate-limit headers.
      expect(Number(hit.headers.get('x-ratelimit-remaining'))).toBe(
        Number(miss.headers.get('x-ratelimit-remaining')) - 1,
      );

      const after = await stats();
      expect([after.hits - before.hits, after.misses - before.misses]).toEqual([1, 1]);
    });

    it('system API: rate-limit status for anyone, cache stats for the admin only', async () => {
      const status = await get('/system/rate-limit/status');
      expect(status.status).toBe(200);
      expect(await status.json()).toEqual({
        client: 'ip',
        degraded: false,
        tiers: [expect.objectContaining({ policy: 'default', tier: 'minute', limit: 100, window_seconds: 60 })],
        generated_at: expect.any(String),
      });

      const anonymous = await get('/system/cache/stats');
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ error: 'authentication required' });
      const wrongKey = await get('/system/cache/stats', { 'x-admin-key': 'not-the-key' });
      expect(wrongKey.status).toBe(401);
      const admin = await get('/system/cache/stats', { 'x-admin-key': ADMIN_KEY });
      expect(admin.status).toBe(200);
      expect(admin.headers.get('x-cache-status')).toBeNull(); // the system API is never cached
      expect(await admin.json()).toMatchObject({
        hits: expect.any(Number),
        misses: expect.any(Number),
        hit_ratio: expect.any(Number),
        entries: expect.any(Number),
      });
    });

    it('a Terminus probe with RedisHealthIndicator from nestjs-redis-shield/terminus reports Redis up', async () => {
      const response = await get('/health');
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'ok', info: { redis: { status: 'up' } } });
    });

    it('shuts down on SIGTERM by itself (the Redis connection closes), without needing SIGKILL', async () => {
      const exit = await app.stop();
      // enableShutdownHooks closes the app, then re-raises the signal.
      expect(exit.signal === 'SIGTERM' || exit.code === 0 ? 'graceful' : exit).toBe('graceful');
    });
  });
});
