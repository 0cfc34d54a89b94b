import type { CachedResponse } from './entry-codec.js';
import { expiresAtOf } from './l1-cache.js';

/**
 * What a stored entry may answer now: `fresh` (a hit), `stale-while-revalidate` (served
 * stale while one request refreshes it), `stale-if-error` (served stale only if the
 * handler fails or Redis cannot be read) or `expired` (never served).
 */
export type Freshness = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired';

/**
 * How long an entry is fresh after its stored time, in ms: what it stored, or for an
 * entry written before freshness was stored, the route's TTL shortened by its stored
 * `Cache-Control` (see `expiresAtOf`).
 */
export function freshMsOf(entry: CachedResponse, routeTtlMs: number, shared: boolean): number {
  return entry.freshMs ?? expiresAtOf(entry, routeTtlMs, shared) - entry.storedAt;
}

/** The {@link Freshness} of `entry` at `now` (ms). */
export function freshnessOf(entry: CachedResponse, now: number, routeTtlMs: number, shared: boolean): Freshness {
  const staleFor = now - entry.storedAt - freshMsOf(entry, routeTtlMs, shared);
  if (staleFor < 0) return 'fresh';
  if (staleFor < (entry.staleWhileRevalidateMs ?? 0)) return 'stale-while-revalidate';
  if (staleFor < (entry.staleIfErrorMs ?? 0)) return 'stale-if-error';
  return 'expired';
}

/** How long an entry stays stored, in ms: fresh, then as long as a stale window lasts. */
export function storedLifetimeMs(ttlMs: number, staleWhileRevalidateMs: number, staleIfErrorMs: number): number {
  return ttlMs + Math.max(staleWhileRevalidateMs, staleIfErrorMs);
}

/** When an entry stops being fresh and when Redis drops it (app time, ms): what the L1 keeps it by. */
export function lifetimesOf(
  entry: CachedResponse,
  routeTtlMs: number,
  shared: boolean,
): { freshUntil: number; expiresAt: number } {
  const freshUntil = entry.storedAt + freshMsOf(entry, routeTtlMs, shared);
  const stale = Math.max(entry.staleWhileRevalidateMs ?? 0, entry.staleIfErrorMs ?? 0);
  return { freshUntil, expiresAt: freshUntil + stale };
}
