import { messages, withCode } from './errors.js';

/**
 * A map of at most `max` entries that forgets the oldest first: for in-process state
 * over an open-ended key space (client ids, digests) that must not grow without bound.
 *
 * "Oldest" is by last write: {@link set} moves a key to the newest end, {@link get} does
 * not (a read stays one hash lookup). A caller that wants a key kept because it is read
 * often writes it again (the least-recently-used policy of a cache of decisions).
 *
 * @example
 * const blocks = new BoundedMap<string, Block>(10_000);
 * blocks.set(clientId, block); // the 10 001st client evicts the one written longest ago
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  /** @param max The most entries kept, at least 1. */
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw withCode(new RangeError(messages.invalidArgument('max', max, 'a positive integer')), 'invalidArgument');
    }
  }

  /** How many entries are kept (at most {@link max}). */
  get size(): number {
    return this.entries.size;
  }

  /** The value of `key`, without changing its age. */
  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Whether `key` is kept. */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  /**
   * Stores `value` under `key` as the newest entry (an existing key moves to the newest
   * end), then forgets the oldest entry if that made one too many.
   *
   * @returns The key forgotten to make room, if any.
   */
  set(key: K, value: V): K | undefined {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size <= this.max) return undefined;
    const oldest = this.entries.keys().next().value as K;
    this.entries.delete(oldest);
    return oldest;
  }

  /** Forgets `key`; false when it was not kept. */
  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** Forgets every entry. */
  clear(): void {
    this.entries.clear();
  }

  /** The keys, oldest first. Deleting the current key while iterating is safe. */
  keys(): MapIterator<K> {
    return this.entries.keys();
  }

  /** The values, oldest first. */
  values(): MapIterator<V> {
    return this.entries.values();
  }

  /** The entries, oldest first. */
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries[Symbol.iterator]();
  }
}
