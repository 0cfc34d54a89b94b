import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type RedisServer, startRedis } from './harness/index.js';
import { REPO_ROOT, requireBuild } from './support/paths.js';

/** Runs the built `npm run validate` entry with only the given variables. */
function validate(env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  requireBuild();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'validate.js')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`validate did not exit:\n${stdout}`));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

describe('npm run validate', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('passes against a live Redis, one line per check, and leaves no scratch data', async () => {
    const { code, stdout } = await validate({ REDIS_URL: server.url });
    expect(stdout.trim().split('\n')).toEqual([
      'PASS config: valid (development)',
      expect.stringMatching(/^PASS redis: reachable, Redis \d+\.\d+\.\d+, standalone$/),
      expect.stringMatching(/^PASS rate limit: script loaded/),
      expect.stringMatching(/^PASS cache: write, read and invalidate/),
    ]);
    expect(code).toBe(0);
    const keys = String(await server.command('KEYS', '*'))
      .split(',')
      .filter(Boolean);
    expect(keys.filter((key) => key !== 'cache:meta:gen')).toEqual([]);
  }, 30_000);

  it('fails with a clear line and a non-zero exit when Redis is down', async () => {
    const { code, stdout } = await validate({ REDIS_URL: 'redis://127.0.0.1:1' });
    expect(stdout).toMatch(/^FAIL redis: unreachable at redis:\/\/127\.0\.0\.1:1/m);
    expect(code).toBe(1);
  }, 30_000);

  it('fails when NODE_ENV=production lacks the secrets', async () => {
    const { code, stdout } = await validate({ NODE_ENV: 'production', REDIS_URL: server.url });
    expect(stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^FAIL config: Invalid config: IP_HASH_SECRET="": expected a secret/),
      expect.stringMatching(/^FAIL config: Invalid config: JWT_SECRET="": expected a secret/),
    ]);
    expect(code).toBe(1);
  });
});
