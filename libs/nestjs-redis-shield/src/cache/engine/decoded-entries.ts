import { ByteBoundedMap } from '../../core/byte-lru.js';
import type { CachedResponse } from './entry-codec.js';

/** The bytes the decoded entries of one instance may take, stored value and body together. */
export const DECODED_ENTRIES_MAX_BYTES = 4 * 1024 * 1024;
/** The largest stored value whose decoded entry is kept, in bytes. */
export const DECODED_ENTRY_MAX_STORED_BYTES = 64 * 1024;

/**
 * The entries this instance decoded last, by digest, each with the exact stored value it
 * was decoded from. A Redis hit whose value is byte for byte the one decoded before gets
 * that entry back instead of being parsed, checked and decompressed again; any other value
 * (rewritten, corrupted, compressed differently) is decoded anew, so what is served is
 * always what decoding the reply would give. For an instance without an L1, where every
 * hit of a hot entry reads the same value from Redis.
 *
 * Bounded in bytes ({@link DECODED_ENTRIES_MAX_BYTES}, the stored value and the body
 * counted): the oldest are forgotten first, and values over
 * {@link DECODED_ENTRY_MAX_STORED_BYTES} are never kept.
 */
export class DecodedEntries {
  private readonly entries: ByteBoundedMap<string, { stored: Buffer; entry: CachedResponse }>;

  constructor(
    maxBytes = DECODED_ENTRIES_MAX_BYTES,
    private readonly maxStoredBytes = DECODED_ENTRY_MAX_STORED_BYTES,
  ) {
    this.entries = new ByteBoundedMap(maxBytes);
  }

  /** The entry decoded from exactly `stored` under `digest`, if kept. */
  get(digest: string, stored: Buffer): CachedResponse | undefined {
    const kept = this.entries.get(digest);
    return kept && kept.stored.equals(stored) ? kept.entry : undefined;
  }

  /** Keeps `entry` as the decoding of `stored` (copied: a reply's buffer may share memory with others). */
  set(digest: string, stored: Buffer, entry: CachedResponse): void {
    if (stored.length > this.maxStoredBytes) {
      this.entries.delete(digest);
      return;
    }
    this.entries.set(digest, { stored: Buffer.from(stored), entry }, stored.length + entry.body.length);
  }

  /** How many entries are kept. */
  get size(): number {
    return this.entries.size;
  }
}
