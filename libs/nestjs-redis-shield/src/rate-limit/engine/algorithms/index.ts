import type { RateLimitAlgorithmName } from '../rate-limit.types.js';
import type { RateLimitAlgorithm } from './algorithm.js';
import { fixedWindow } from './fixed-window.js';
import { gcra } from './gcra.js';
import { slidingWindow } from './sliding-window.js';
import { tokenBucket } from './token-bucket.js';

/** Every algorithm by name; `code` is its index in the Lua dispatcher. */
export const ALGORITHMS: Readonly<Record<RateLimitAlgorithmName, RateLimitAlgorithm>> = {
  'fixed-window': fixedWindow,
  'sliding-window': slidingWindow,
  'token-bucket': tokenBucket,
  gcra,
};
