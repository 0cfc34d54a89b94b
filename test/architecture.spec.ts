import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from './support/paths.js';

const LIBRARY_SRC = join(REPO_ROOT, 'libs', 'nestjs-redis-shield', 'src');

// The layout of ARCHITECTURE.md, checked: what each folder may import. A change that puts
// Nest or ioredis into an engine, or makes core depend on a feature, fails here first.

interface Import {
  file: string;
  specifier: string;
  /** Erased at compile time (`import type`, or every named binding marked `type`). */
  typeOnly: boolean;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !/\.(int-|e2e-|fault-)?spec\.ts$/.test(entry.name) ? [path] : [];
  });
}

const STATEMENT = /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*'([^']+)'/gms;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(STATEMENT)].map(([, , typeKeyword, bindings, specifier]) => {
    const named = /^\{([^}]*)\}$/s.exec(bindings.trim())?.[1];
    const names = named
      ?.split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const allTyped = names !== undefined && names.length > 0 && names.every((name) => name.startsWith('type '));
    return { file, specifier: specifier!, typeOnly: typeKeyword !== undefined || allTyped };
  });
}

const files = sources(LIBRARY_SRC);
const imports = files.flatMap(importsOf);
const rel = (path: string): string => relative(LIBRARY_SRC, path);
/** The library path an import points at (relative to src), or undefined for a package. */
const target = (i: Import): string | undefined =>
  i.specifier.startsWith('.') ? rel(resolve(dirname(i.file), i.specifier)) : undefined;
const area = (path: string): string => path.split('/')[0]!;
const layer = (path: string): string | undefined => /^[^/]+\/(nest|engine|store)\//.exec(path)?.[1];

/** The package's entry points (`package.json` exports): they gather every area. */
const ENTRY_POINTS = ['index.ts', 'terminus/index.ts'];

/** Which areas each area may import from (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  redis: ['core', 'bus'],
  bus: ['core', 'redis'],
  'rate-limit': ['core', 'redis', 'bus'],
  cache: ['core', 'redis', 'bus'],
  metrics: ['core', 'redis', 'cache', 'rate-limit', 'system-api'],
  'system-api': ['core', 'redis', 'cache', 'rate-limit'],
  terminus: ['core', 'redis'],
};

describe('library layout (ARCHITECTURE.md)', () => {
  it('has every source file in core/, a feature\u2019s nest/, engine/ or store/, or an entry point', () => {
    const misplaced = files
      .map(rel)
      .filter((path) => !/^core\//.test(path) && layer(path) === undefined)
      .filter((path) => ![...ENTRY_POINTS, 'terminus/redis.health-indicator.ts'].includes(path));
    expect(misplaced).toEqual([]);
  });

  it('keeps Nest and ioredis out of every engine/ (type imports aside)', () => {
    const offending = imports
      .filter((i) => layer(rel(i.file)) === 'engine' && !i.typeOnly)
      .filter((i) => /^(@nestjs\/|ioredis$)/.test(i.specifier))
      .map((i) => `${rel(i.file)} imports ${i.specifier}`);
    expect(offending).toEqual([]);
  });

  it('keeps every engine/ free of nest/ and store/ code (type imports and Lua text aside)', () => {
    // A `store/lua/*.lua.ts` file is a script's text, data with no I/O: the algorithm
    // registry pairs each TypeScript decision with its Lua twin.
    const offending = imports
      .filter((i) => layer(rel(i.file)) === 'engine' && !i.typeOnly)
      .filter((i) => ['nest', 'store'].includes(layer(target(i) ?? '') ?? ''))
      .filter((i) => !/\/store\/lua\/[a-z-]+\.lua\.js$/.test(target(i)!))
      .map((i) => `${rel(i.file)} imports ${target(i)}`);
    expect(offending).toEqual([]);
  });

  it('lets each area import only the areas below it', () => {
    const offending = imports
      .filter((i) => !ENTRY_POINTS.includes(rel(i.file)))
      .filter((i) => target(i) !== undefined && area(target(i)!) !== area(rel(i.file)))
      .filter((i) => !(ALLOWED[area(rel(i.file))] ?? []).includes(area(target(i)!)))
      .map((i) => `${rel(i.file)} imports ${target(i)}`);
    expect(offending).toEqual([]);
  });

  it('never imports the package entry point from inside the library', () => {
    const offending = imports.filter((i) => target(i) === 'index.ts' || i.specifier === 'nestjs-redis-shield');
    expect(offending.map((i) => rel(i.file))).toEqual([]);
  });

  it('keeps the two system controllers independent of each other', () => {
    const controllers = imports.filter((i) => /system-api\/nest\/system-[a-z-]+\.controller\.ts$/.test(i.file));
    const crossing = controllers
      .filter((i) => /system-[a-z-]+\.controller\.js$/.test(target(i) ?? ''))
      .map((i) => `${rel(i.file)} imports ${target(i)}`);
    expect(crossing).toEqual([]);
  });

  it('cites no document outside the repository', () => {
    const citing = files.filter((file) => /SPEC §|seed\/|\.\.\/shared\//.test(readFileSync(file, 'utf8'))).map(rel);
    expect(citing).toEqual([]);
  });

  it('reaches the rate-limit script from the guard in at most three hops: guard, limiter, store, script', () => {
    const graph = new Map<string, string[]>();
    for (const i of imports.filter((i) => !i.typeOnly && target(i) !== undefined)) {
      const from = rel(i.file);
      graph.set(from, [...(graph.get(from) ?? []), target(i)!.replace(/\.js$/, '.ts')]);
    }
    const start = 'rate-limit/nest/rate-limit.guard.ts';
    const goal = 'rate-limit/store/lua/rate-limit.lua.ts';
    const hops = new Map([[start, 0]]);
    const queue = [start];
    while (queue.length > 0) {
      const file = queue.shift()!;
      for (const next of graph.get(file) ?? []) {
        if (hops.has(next)) continue;
        hops.set(next, hops.get(file)! + 1);
        queue.push(next);
      }
    }
    expect(hops.get(goal)).toBeLessThanOrEqual(3);
  });

  it('gives every export of the package entry point a one-line reason', () => {
    const lines = readFileSync(join(LIBRARY_SRC, 'index.ts'), 'utf8').split('\n');
    const unexplained = lines
      .map((line, index) => ({ line, before: lines[index - 1] ?? '' }))
      .filter(({ line }) => line.startsWith('export '))
      .filter(({ before }) => !/^\/\*\* .+ \*\/$/.test(before))
      .map(({ line }) => line);
    expect(unexplained).toEqual([]);
  });
});
