import { WINDOW_EPOCH_MS } from './algorithm.js';

/**
 * The modulus the Redis script stores a window number by: the smallest power of ten above
 * the windows a state can stay readable plus two, so the stored number is two or three
 * digits instead of seven (one jemalloc size class, 16 B, per client with the default
 * tiers) and still tells the windows around the current one apart (see {@link windowOffset}).
 *
 * @param windowMs the tier's window, in ms
 * @param ttlMs how long the key lives past its state's time (twice the policy's longest window), in ms
 */
export function windowModulus(windowMs: number, ttlMs: number): number {
  let m = 10;
  while (m <= ttlMs / windowMs + 2) m *= 10;
  return m;
}

/**
 * Where a stored window number lies relative to the current window `w` (both counted from
 * `WINDOW_EPOCH_MS`; the stored one may be wrapped modulo m = {@link windowModulus}):
 *
 * - `0`: the same window;
 * - `k` from 1 to m − ⌊ttl/window⌋ − 2: k windows ahead, the clock reads behind the
 *   bucket (it stepped back): the window algorithms carry on counting in that window;
 * - `-1`: the previous window;
 * - `undefined`: older, a stale state that counts for nothing.
 *
 * Why these ranges: while its key lives, a state is at most ⌊ttl/window⌋ + 1 windows
 * behind (the key is gone before {@link windowHorizon}), so the offsets
 * `(stored − w) mod m` from m − ⌊ttl/window⌋ − 1 to m − 1 are read as behind, and the rest
 * as ahead. A clock stepping back further than m − ⌊ttl/window⌋ − 2 windows finds the
 * state stale: the tier starts afresh.
 */
export function windowOffset(stored: number, w: number, windowMs: number, ttlMs: number): number | undefined {
  const m = windowModulus(windowMs, ttlMs);
  const d = (((stored - w) % m) + m) % m;
  if (d < m - Math.floor(ttlMs / windowMs) - 1) return d;
  return d === m - 1 ? -1 : undefined;
}

/**
 * The first instant (epoch ms) at which a state stored for window `w` would be read as
 * ahead (⌊ttl/window⌋ + 2 windows later, see {@link windowOffset}): its key must be gone
 * by then. Always later than the state's time plus `ttlMs`.
 */
export function windowHorizon(w: number, windowMs: number, ttlMs: number): number {
  return WINDOW_EPOCH_MS + (w + Math.floor(ttlMs / windowMs) + 2) * windowMs;
}

/** Lua twins of {@link windowModulus}, {@link windowOffset} (nil for stale) and {@link windowHorizon}. */
export const WINDOW_INDEX_LUA = `
local function window_modulus(window, ttl)
  local m = 10
  while m <= ttl / window + 2 do m = m * 10 end
  return m
end
local function window_index(w, window, ttl)
  return w % window_modulus(window, ttl)
end
local function window_offset(stored, w, window, ttl)
  local m = window_modulus(window, ttl)
  local d = (stored - w) % m
  if d < m - math.floor(ttl / window) - 1 then return d end
  if d == m - 1 then return -1 end
  return nil
end
local function window_horizon(w, window, ttl)
  return EPOCH + (w + math.floor(ttl / window) + 2) * window
end
`;
