import type { INestApplication } from '@nestjs/common';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { REPO_ROOT } from './support/paths.js';

// The operator's way to the scrape token (README, Monitoring): `node dist/mint-token.js`,
// with the deployment's environment, prints a token the demo's /metrics accepts.

const JWT_SECRET = 'scrape-token-e2e-jwt-secret-0123456789abcdef';
const IP_HASH_SECRET = 'scrape-token-e2e-ip-hash-secret-0123456789';
const MINT = join(REPO_ROOT, 'dist', 'mint-token.js');

/** Runs the built CLI with `env` as its whole environment (and PATH). */
function mint(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(MINT)) throw new Error(`${MINT} is missing: run \`npm run build\` (npm test does)`);
  const child = spawn(process.execPath, [MINT, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const PRODUCTION = { NODE_ENV: 'production', JWT_SECRET, IP_HASH_SECRET };

describe('node dist/mint-token.js', () => {
  let redis: RedisServer;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    redis = await startRedis();
    const result = loadConfig({ ...PRODUCTION, REDIS_URL: redis.url });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  const scrape = (token: string) => request(url).get('/metrics').set('Authorization', `Bearer ${token}`);

  it('prints on stdout an admin token, signed with JWT_SECRET, that scrapes /metrics; the secret is never printed', async () => {
    const minted = await mint([], PRODUCTION);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(minted.stderr).toMatch(/^minted a token for sub=prometheus roles=admin, valid until \d{4}-\d\d-\d\dT/);
    expect(minted.stdout + minted.stderr).not.toContain(JWT_SECRET);
    const response = await scrape(token);
    expect(response.status).toBe(200);
    expect(response.text).toContain('# TYPE shield_redis_up gauge');
  });

  it('--role other than admin makes a token /metrics refuses with 403', async () => {
    const minted = await mint(['--sub', 'dashboards', '--role', 'reader', '--expires', '1h'], PRODUCTION);
    expect(minted.code).toBe(0);
    expect((await scrape(minted.stdout.trim())).status).toBe(403);
  });

  it('a token minted under another JWT_SECRET is refused with 401', async () => {
    const minted = await mint([], { ...PRODUCTION, JWT_SECRET: 'another-deployment-secret-0123456789abcdef' });
    expect(minted.code).toBe(0);
    expect((await scrape(minted.stdout.trim())).status).toBe(401);
  });

  it('exits 1 naming JWT_SECRET when production has no valid secret, and 2 on bad arguments, printing no token', async () => {
    const noSecret = await mint([], { NODE_ENV: 'production', IP_HASH_SECRET });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toMatch(/^Invalid config: JWT_SECRET=/m);
    expect(noSecret.stdout).toBe('');
    for (const args of [['--expires', '10y'], ['--expires', '400d'], ['--bogus'], ['--sub', '']]) {
      const bad = await mint(args, PRODUCTION);
      expect({ args, code: bad.code, stdout: bad.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(bad.stderr).toContain('usage: node dist/mint-token.js');
    }
  });
});
