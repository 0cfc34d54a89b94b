import { ByteBoundedMap } from '../../core/byte-lru.js';
import type { ResolvedL1Options } from './cache.options.js';
import { cacheControl } from './storability.js';
import type { CachedResponse } from './entry-codec.js';

/**
 * What the L1 needs of the instance bus: its epoch and its bound on local state (see
 * `InstanceBus.maxLocalLifetimeMs`). Undefined bus: every entry is bounded by
 * `maxAgeWithoutBusMs`.
 */
export interface L1BusLifetime {
  /** The bus's current epoch (changes whenever its connection does). */
  readonly epoch: number;
  /** `Infinity` while the bus has been connected since `epoch`; finite otherwise. */
  maxLocalLifetimeMs(epoch: number): number;
}

interface L1Entry<T> {
  /** The entry (as decoded from what Redis stores: an L1 hit decodes nothing). */
  value: T;
  /** App time (ms) after which Redis no longer holds it (its TTL). */
  expiresAt: number;
  /** App time (ms) until which it is fresh; after it, only {@link L1Cache.getStale} returns it. */
  freshUntil: number;
  /** App time (ms) it was put in L1. */
  putAt: number;
  /** The bus's epoch when it was put. */
  epoch: number;
  /** The L1 generation it was read (or written) under. */
  generation: number;
}

/** Size accounted per entry besides its bytes (the digest and bookkeeping). */
const ENTRY_OVERHEAD_BYTES = 128;

/**
 * The in-process cache (L1) in front of Redis (L2): entries by digest, bounded in bytes.
 * The response cache keeps them decoded (each decoded once, by the same decoder as a Redis
 * hit, when it was read or written), so an L1 hit answers the same status, headers and
 * bytes as a Redis hit, with `Age` from the entry's stored time, and decodes nothing.
 *
 * **Generation.** Every invalidation, on any instance, reaches this one through the
 * instance bus (`cache.invalidate`), after Redis deleted what it covered, and advances
 * {@link generation}, dropping the whole L1 (or one digest for a `key` invalidation).
 * A caller reads {@link generation} before it asks Redis and passes it to {@link put}: an
 * entry read or written under an older generation may predate an invalidation whose
 * message already arrived, and is refused; an entry kept under an older generation is
 * never served.
 *
 * **Bus down.** While the bus is not connected (or was not, since an entry was put), an
 * invalidation may have been missed: an entry is then served for at most
 * `maxAgeWithoutBusMs` after it was put, then read again from Redis.
 */
export class L1Cache<T = Buffer> {
  private readonly entries: ByteBoundedMap<string, L1Entry<T>> | undefined;
  private current = 0;

  constructor(
    private readonly options: ResolvedL1Options,
    private readonly bus?: L1BusLifetime,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = options.maxBytes > 0 ? new ByteBoundedMap(options.maxBytes) : undefined;
  }

  /** Whether the L1 keeps anything (`maxBytes` above 0). */
  get enabled(): boolean {
    return this.entries !== undefined;
  }

  /** Advanced by every invalidation; read it before asking Redis and pass it to {@link put}. */
  get generation(): number {
    return this.current;
  }

  /** Bytes kept. */
  get bytes(): number {
    return this.entries?.bytes ?? 0;
  }

  /** The entry of `digest`, if kept, fresh, of the current generation and vouched for by the bus. */
  get(digest: string): T | undefined {
    const entry = this.valid(digest);
    return entry && this.now() < entry.freshUntil ? entry.value : undefined;
  }

  /**
   * The encoded entry of `digest` even if it is no longer fresh (but still stored in
   * Redis, of the current generation and vouched for by the bus): for stale-if-error,
   * when Redis cannot be read. The caller checks its stale window.
   */
  getStale(digest: string): T | undefined {
    return this.valid(digest)?.value;
  }

  /** Whether `value` itself is what {@link getStale} returns for `digest`. */
  holds(digest: string, value: T): boolean {
    return this.valid(digest)?.value === value;
  }

  /**
   * Drops `digest` without advancing the generation: a newer value was stored (another
   * instance refreshed it), so this copy is out of date but no invalidation ran.
   */
  forget(digest: string): void {
    this.entries?.delete(digest);
  }

  private valid(digest: string): L1Entry<T> | undefined {
    const entry = this.entries?.get(digest);
    if (!entry) return undefined;
    const now = this.now();
    if (entry.generation !== this.current || now >= entry.expiresAt || now - entry.putAt > this.lifetimeMs(entry)) {
      this.entries!.delete(digest);
      return undefined;
    }
    return entry;
  }

  /**
   * Keeps an encoded entry read from (or just written to) Redis. Refused when the L1 is
   * off, the entry is per-user and `perUser` is off, it expires by now, or an
   * invalidation arrived since `generation` was read.
   *
   * @param meta.expiresAt App time (ms) its Redis TTL ends (see {@link expiresAtOf}).
   * @param meta.freshUntil App time (ms) until which it is fresh (default `expiresAt`).
   * @param meta.bytes The memory it takes, counted against `maxBytes` (default: a Buffer's length).
   */
  put(
    digest: string,
    value: T,
    meta: { generation: number; expiresAt: number; perUser: boolean; freshUntil?: number; bytes?: number },
  ): boolean {
    if (!this.entries || (meta.perUser && !this.options.perUser)) return false;
    if (meta.generation !== this.current) return false;
    const now = this.now();
    if (now >= meta.expiresAt) return false;
    const entry: L1Entry<T> = {
      value,
      expiresAt: meta.expiresAt,
      freshUntil: Math.min(meta.freshUntil ?? meta.expiresAt, meta.expiresAt),
      putAt: now,
      epoch: this.bus?.epoch ?? 0,
      generation: meta.generation,
    };
    const size = meta.bytes ?? (Buffer.isBuffer(value) ? value.length : 0);
    return this.entries.set(digest, entry, size + digest.length + ENTRY_OVERHEAD_BYTES);
  }

  /** An invalidation of one entry: it goes, and reads in flight may not put what they read. */
  invalidateKey(digest: string): void {
    this.current++;
    this.entries?.delete(digest);
  }

  /** Any other invalidation (route, path, user, tag, all): the whole L1 goes. */
  invalidateAll(): void {
    this.current++;
    this.entries?.clear();
  }

  private lifetimeMs(entry: L1Entry<T>): number {
    const bound = this.bus?.maxLocalLifetimeMs(entry.epoch) ?? 0;
    return bound === Infinity ? Infinity : this.options.maxAgeWithoutBusMs;
  }
}

/**
 * When Redis drops an entry read back (it holds no TTL of its own): its stored time plus
 * the route's TTL, shortened by the stored `Cache-Control` as the write did (`s-maxage`
 * for shared entries, else `max-age`; see `decideStorage`).
 */
export function expiresAtOf(entry: CachedResponse, routeTtlMs: number, shared: boolean): number {
  let ttlMs = routeTtlMs;
  const directives = cacheControl(entry.headers['cache-control']);
  const lifetime = shared && directives.has('s-maxage') ? 's-maxage' : 'max-age';
  if (directives.has(lifetime)) {
    const seconds = Number(directives.get(lifetime));
    ttlMs = Number.isFinite(seconds) ? Math.min(ttlMs, Math.floor(seconds) * 1000) : 0;
  }
  return entry.storedAt + ttlMs;
}
