import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The built demo entry point (`npm run build`; `npm test` builds first). */
export const BUILT_MAIN = join(REPO_ROOT, 'dist', 'main.js');

/** Fails with a clear message when the demo has not been built. */
export function requireBuild(): string {
  if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run \`npm run build\` (npm test does)`);
  return BUILT_MAIN;
}
