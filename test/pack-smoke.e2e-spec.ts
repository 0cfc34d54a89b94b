import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from './support/paths.js';

const run = promisify(execFile);
const LIBRARY = 'nestjs-redis-shield';

/**
 * Packs the library as npm would publish it, installs the tarball into a fresh minimal
 * Nest app (no network: the library has only peer dependencies, which resolve from the
 * repository's node_modules above the scratch folder), compiles that app with plain tsc
 * and boots it. Catches broken `exports`, missing files and declaration errors.
 */
describe('packed library', () => {
  const scratch = join(REPO_ROOT, 'tmp', `pack-smoke-${process.pid}-${Date.now()}`);
  const appDir = join(scratch, 'app');

  beforeAll(() => mkdirSync(appDir, { recursive: true }));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('packs, installs into a new Nest app, compiles and boots', async () => {
    const packed = await run(
      'npm',
      ['pack', '--workspace', `libs/${LIBRARY}`, '--pack-destination', scratch, '--json', '--silent'],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
    );
    const [tarball] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = tarball.files.map((file) => file.path);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts']));
    expect(files.filter((file) => /\.(spec|int-spec|e2e-spec)\.|tsbuildinfo/.test(file))).toEqual([]);

    cpSync(fileURLToPath(new URL('./fixtures/smoke-app', import.meta.url)), appDir, { recursive: true });
    writeFileSync(
      join(appDir, 'package.json'),
      JSON.stringify({ name: 'smoke-app', private: true, type: 'module' }, null, 2),
    );
    await run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--legacy-peer-deps', join(scratch, tarball.filename)],
      { cwd: appDir },
    );

    await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', appDir]);

    const booted = await run(process.execPath, [join(appDir, 'dist', 'main.js')], { cwd: appDir, timeout: 20_000 });
    const { resolved, body } = JSON.parse(booted.stdout) as { resolved: string; body: string };
    // The tarball's copy, not the workspace symlink in the repository's node_modules.
    expect(realpathSync(fileURLToPath(resolved))).toBe(
      realpathSync(join(appDir, 'node_modules', LIBRARY, 'dist', 'index.js')),
    );
    expect(JSON.parse(body)).toEqual({ ok: true, hashed: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
  }, 120_000);
});
