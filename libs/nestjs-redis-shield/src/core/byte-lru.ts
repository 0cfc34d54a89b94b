import { messages, withCode } from './errors.js';
import { BoundedMap } from './lru.js';

/**
 * A map bounded in bytes, not entries: each value is stored with its size, and a write
 * that brings the total over `maxBytes` forgets the oldest entries (by last write, as
 * {@link BoundedMap}) until it fits. A value larger than `maxBytes` alone is refused.
 *
 * @example
 * const entries = new ByteBoundedMap<string, Buffer>(32 * 1024 * 1024);
 * entries.set(digest, bytes, bytes.length);
 */
export class ByteBoundedMap<K, V> {
  private readonly entries = new BoundedMap<K, { value: V; bytes: number }>(Number.MAX_SAFE_INTEGER);
  private total = 0;

  /** @param maxBytes The most bytes kept, at least 1. */
  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw withCode(
        new RangeError(messages.invalidArgument('maxBytes', maxBytes, 'a positive integer')),
        'invalidArgument',
      );
    }
  }

  /** The bytes of every entry kept (at most {@link maxBytes}). */
  get bytes(): number {
    return this.total;
  }

  /** How many entries are kept. */
  get size(): number {
    return this.entries.size;
  }

  /** The value of `key`, without changing its age. */
  get(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  /**
   * Stores `value` (of `bytes` bytes) as the newest entry, then forgets the oldest ones
   * until the total fits. Returns false, storing nothing (and forgetting an older value
   * of `key`), when `bytes` alone exceeds {@link maxBytes}.
   */
  set(key: K, value: V, bytes: number): boolean {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw withCode(
        new RangeError(messages.invalidArgument('bytes', bytes, 'a non-negative integer')),
        'invalidArgument',
      );
    }
    this.delete(key);
    if (bytes > this.maxBytes) return false;
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
    }
    return true;
  }

  /** Forgets `key`; false when it was not kept. */
  delete(key: K): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.total -= entry.bytes;
    return true;
  }

  /** Forgets every entry. */
  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}
