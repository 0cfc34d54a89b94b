import { spawn } from 'node:child_process';
import { startBuiltDemo } from './support/built-demo.js';
import { requireBuild, REPO_ROOT } from './support/paths.js';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built demo with only the given variables (plus PATH) and waits for it to exit. */
function runDemo(env: Record<string, string>, timeoutMs = 10_000): Promise<Exit> {
  const main = requireBuild();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', REDIS_URL: 'redis://127.0.0.1:1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('demo start-up with a bad configuration', () => {
  it.each([
    ['RATE_LIMIT_PER_MINUTE', 'abc', {}],
    ['CACHE_TTL_DEFAULT', '-1', {}],
    ['RATE_LIMIT_ALGORITHM', 'bogus', {}],
    ['REDIS_URL', 'not a url', {}],
    ['REDIS_KEY_PREFIX', 'a{b', {}],
    // Its pro plan (10 ×) would be above the library's 10^9 per window.
    ['RATE_LIMIT_PER_HOUR', '100000001', {}],
  ])('%s=%j exits 1 with one Invalid config line and no stack trace', async (name, value) => {
    const { code, stdout, stderr } = await runDemo({ [name]: value });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^Invalid config: ${name}=${JSON.stringify(JSON.stringify(value)).slice(1, -1)}: expected \\S.+$`),
    );
    expect(stderr + stdout).not.toMatch(/\n\s+at |Error:/);
    expect(stdout).toBe('');
  });

  it('NODE_ENV=production without JWT_SECRET exits 1 naming JWT_SECRET', async () => {
    const { code, stderr, stdout } = await runDemo({
      NODE_ENV: 'production',
      IP_HASH_SECRET: 'a-production-grade-ip-hash-secret-0123456789',
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^Invalid config: JWT_SECRET="": expected a secret of at least 32 characters.*production$/),
    ]);
    expect(stdout).toBe('');
  });

  it('prints one line per bad variable', async () => {
    const { code, stderr } = await runDemo({ RATE_LIMIT_PER_MINUTE: 'abc', RATE_LIMIT_FAIL_MODE: 'sideways' });
    expect(code).toBe(1);
    expect(
      stderr
        .trim()
        .split('\n')
        .map((line) => line.split('=')[0]),
    ).toEqual(['Invalid config: RATE_LIMIT_PER_MINUTE', 'Invalid config: RATE_LIMIT_FAIL_MODE']);
  });
});

describe('demo start-up with a good configuration', () => {
  it('serves on PORT without Redis and stops on SIGTERM', async () => {
    const demo = await startBuiltDemo(10_000);
    try {
      const response = await fetch(`${demo.url}/api/v1/health`);
      expect(response.status).toBe(200);
      expect(demo.output()).toContain('JWT_SECRET is not set');
      expect(demo.output()).toMatch(/Redis:default.*unreachable/);
    } finally {
      const { code, signal } = await demo.stop();
      expect({ code, signal }).toEqual({ code: 0, signal: null }); // closed cleanly, nothing left open
    }
  });

  it('starts with RATE_LIMIT_PER_HOUR=1000000 (a pro plan of 10 000 000 per hour)', async () => {
    const demo = await startBuiltDemo(10_000, { RATE_LIMIT_PER_HOUR: '1000000' });
    try {
      const response = await fetch(`${demo.url}/api/v1/health`);
      expect(response.status).toBe(200);
      expect(demo.output()).not.toMatch(/\n\s+at |Error:/);
    } finally {
      await demo.stop();
    }
  });
});
