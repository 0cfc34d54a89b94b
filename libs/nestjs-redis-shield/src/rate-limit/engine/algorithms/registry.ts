import { FIXED_WINDOW_LUA } from '../../store/lua/fixed-window.lua.js';
import { GCRA_LUA } from '../../store/lua/gcra.lua.js';
import { SLIDING_WINDOW_LUA } from '../../store/lua/sliding-window.lua.js';
import { TOKEN_BUCKET_LUA } from '../../store/lua/token-bucket.lua.js';
import type { RateLimitAlgorithm } from './algorithm.js';
import { fixedWindow } from './fixed-window.js';
import { gcra } from './gcra.js';
import { slidingWindow } from './sliding-window.js';
import { tokenBucket } from './token-bucket.js';

/** Types the registry: its keys are the algorithm names, each entry a {@link RateLimitAlgorithm}. */
function registry<const T extends Record<string, RateLimitAlgorithm>>(
  entries: T,
): Readonly<Record<keyof T & string, RateLimitAlgorithm>> {
  return entries;
}

/**
 * Every algorithm by name, the one list: name → TypeScript half and Lua twin (see each file
 * in `algorithms/` for its guarantee and cost). Everything else is derived from it: the names (options, validation), the memory store's dispatch, and the
 * Redis script's dispatcher and algorithm codes (`store/lua/rate-limit.lua.ts`). Adding an
 * algorithm is one TypeScript file, one Lua file and one line here; `registry.spec.ts`
 * checks that nothing else has to agree.
 */
export const ALGORITHMS = registry({
  'fixed-window': { ...fixedWindow, lua: FIXED_WINDOW_LUA },
  'sliding-window': { ...slidingWindow, lua: SLIDING_WINDOW_LUA },
  'token-bucket': { ...tokenBucket, lua: TOKEN_BUCKET_LUA },
  gcra: { ...gcra, lua: GCRA_LUA },
});

/** One of {@link RATE_LIMIT_ALGORITHMS}: `fixed-window`, `sliding-window` (the default), `token-bucket` or `gcra`. */
export type RateLimitAlgorithmName = keyof typeof ALGORITHMS;

/** The algorithms' names, in registry order. */
export const RATE_LIMIT_ALGORITHMS = Object.keys(ALGORITHMS) as readonly RateLimitAlgorithmName[];

/** The algorithm of every tier whose policy and module name none. */
export const DEFAULT_ALGORITHM: RateLimitAlgorithmName = 'sliding-window';
