import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './support/paths.js';

const TYPEDOC = join(REPO_ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
const TIMEOUT_MS = 120_000;

/** Runs typedoc from the repository root (so with the root `typedoc.json` unless `--options` says otherwise). */
function typedoc(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TYPEDOC, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer) => (output += chunk.toString());
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`typedoc did not exit:\n${output}`));
    }, TIMEOUT_MS - 5_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      // eslint-disable-next-line no-control-regex
      resolve({ code, output: output.replace(/\x1b\[[0-9;]*m/g, '') });
    });
  });
}

const problems = (output: string) => output.split('\n').filter((line) => /\[(warning|error)\]/i.test(line));

describe('API documentation (npm run docs)', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'api-docs-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // Renders the HTML too (into a temp dir): some warnings, e.g. of `@example` blocks, only
  // appear when rendering.
  it(
    'builds with no warning: every export documented, every referenced type exported, every link valid',
    async () => {
      const { code, output } = await typedoc(['--out', join(dir, 'api')]);
      expect(problems(output)).toEqual([]);
      expect(code).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'fails on an undocumented export with the same settings (the validation is really on)',
    async () => {
      const config = JSON.parse(readFileSync(join(REPO_ROOT, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
      delete config.intentionallyNotDocumented;
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'api-docs-fixture', type: 'module' }));
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: join(REPO_ROOT, 'tsconfig.base.json'),
          compilerOptions: { types: [] },
          include: ['index.ts'],
        }),
      );
      writeFileSync(
        join(dir, 'index.ts'),
        '/**\n * A fixture.\n *\n * @module fixture\n */\nexport function undocumented(): number {\n  return 1;\n}\n',
      );
      writeFileSync(
        join(dir, 'typedoc.json'),
        JSON.stringify({
          ...config,
          entryPoints: [join(dir, 'index.ts')],
          tsconfig: join(dir, 'tsconfig.json'),
          out: join(dir, 'fixture-docs'),
        }),
      );
      const { code, output } = await typedoc(['--options', join(dir, 'typedoc.json')]);
      expect(output).toMatch(/\bundocumented \(\w+\), defined in .* does not have any documentation/);
      expect(code).not.toBe(0);
    },
    TIMEOUT_MS,
  );
});
