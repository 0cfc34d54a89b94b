import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { REPO_ROOT } from './support/paths.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

/** Variable names in the first column of the README's configuration table. */
function readmeConfigNames(): string[] {
  const section = read('README.md').split('## Configuration')[1].split('\n## ')[0];
  return [...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)].map((match) => match[1]);
}

describe('README, docker-compose and the config loader agree', () => {
  it('docker-compose only uses variables from the README config table', () => {
    const compose = parse(read('docker-compose.yml')) as {
      services: Record<string, { environment?: Record<string, unknown> | string[] }>;
    };
    const documented = new Set(readmeConfigNames());
    const used = Object.values(compose.services).flatMap(({ environment }) =>
      Array.isArray(environment) ? environment.map((item) => item.split('=')[0]) : Object.keys(environment ?? {}),
    );
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !documented.has(name))).toEqual([]);
  });

  it('the README table lists exactly the variables loadConfig reads', () => {
    const source = read('src/config/load-config.ts');
    const readByLoader = new Set([
      ...[...source.matchAll(/\b(?:read|readSecret)(?:<[^(]*>)?\('([A-Z][A-Z0-9_]*)'/g)].map((match) => match[1]),
      ...[...source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]),
    ]);
    expect(new Set(readmeConfigNames())).toEqual(readByLoader);
  });

  it('the README shows the fresh-clone commands and .ci/run runs the same test command', () => {
    const readme = read('README.md');
    expect(readme.slice(0, 2000)).toContain('npm ci && npm start');
    expect(readme.slice(0, 2000)).toContain('npm test');
    expect(read('.ci/run')).toMatch(/^npm test$/m);
  });
});

describe("the README's 'When Redis fails' table", () => {
  const section = read('README.md').split('### When Redis fails: every fault')[1].split('\n## ')[0];
  const cited = new Set([...section.matchAll(/`([\w./-]+\.(?:fault|e2e|int)-spec\.ts)`/g)].map((match) => match[1]));

  it('cites only test files that exist', () => {
    expect(cited.size).toBeGreaterThanOrEqual(5);
    const missing = [...cited].filter((file) => {
      try {
        read(join('test', file));
        return false;
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });

  it('cites every fault test file', () => {
    const faultFiles = readdirSync(join(REPO_ROOT, 'test', 'reliability')).filter((file) =>
      file.endsWith('.fault-spec.ts'),
    );
    expect(faultFiles.length).toBeGreaterThanOrEqual(4);
    expect(faultFiles.filter((file) => !cited.has(`reliability/${file}`))).toEqual([]);
  });
});

describe('jest projects', () => {
  const TEST_LIKE = /[.-](spec|test)\.[cm]?[jt]sx?$/;

  function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      if (entry.name === 'node_modules' || entry.name === 'dist') return [];
      const path = join(dir, entry.name);
      return entry.isDirectory() ? walk(path) : [path];
    });
  }

  it('collect every test file in src, libs and test exactly once', async () => {
    const { projects } = (await import(pathToFileURL(join(REPO_ROOT, 'jest.config.js')).href)) as {
      projects: { displayName: string; roots: string[]; testRegex: string }[];
    };
    for (const project of projects) {
      expect(project.roots).toEqual(['<rootDir>/src', '<rootDir>/libs', '<rootDir>/test']);
    }
    const files = ['src', 'libs', 'test'].flatMap((dir) => walk(join(REPO_ROOT, dir))).filter((f) => TEST_LIKE.test(f));
    expect(files.length).toBeGreaterThan(3);
    const uncollected = files
      .map((file) => ({
        file: relative(REPO_ROOT, file),
        tiers: projects.filter((project) => new RegExp(project.testRegex).test(file)).length,
      }))
      .filter(({ tiers }) => tiers !== 1);
    expect(uncollected).toEqual([]);
  });
});
