import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants } from 'node:zlib';

const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

/** A response as stored: status, allowlisted headers, the exact body bytes. */
export interface CachedResponse {
  /** The HTTP status (200 or 201). */
  status: number;
  /** Allowlisted response headers, lower-case names. */
  headers: Record<string, string>;
  /** The response body, byte for byte (stored compressed when large). */
  body: Buffer;
  /** When it was stored, epoch ms (for `Age`). */
  storedAt: number;
  /** The strong ETag the library computed. */
  etag: string;
}

/** A stored value that cannot be decoded; the caller deletes it and serves from the handler. */
export class CorruptEntryError extends Error {
  /** Always `'CorruptEntryError'`. */
  override readonly name = 'CorruptEntryError';
}

const MAGIC = Buffer.from('RSC1');
const FLAG_BROTLI = 1;
const HEADER_BYTES = MAGIC.length + 1 + 4;

/**
 * Encodes an entry: `RSC1`, a flags byte, the metadata length (u32), metadata JSON,
 * then the body. Bodies of at least `compressAboveBytes` are Brotli-compressed
 * (asynchronously, off the event loop) when that makes them smaller.
 */
export async function encodeEntry(entry: CachedResponse, compressAboveBytes: number): Promise<Buffer> {
  let body = entry.body;
  let flags = 0;
  if (body.length >= compressAboveBytes) {
    const compressed = await compress(body, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
    });
    if (compressed.length < body.length) {
      body = compressed;
      flags |= FLAG_BROTLI;
    }
  }
  const meta = Buffer.from(JSON.stringify({ s: entry.status, h: entry.headers, t: entry.storedAt, e: entry.etag }));
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(flags, MAGIC.length);
  header.writeUInt32BE(meta.length, MAGIC.length + 1);
  return Buffer.concat([header, meta, body]);
}

/** Decodes an entry; any malformed value throws {@link CorruptEntryError}. */
export async function decodeEntry(value: Buffer): Promise<CachedResponse> {
  if (value.length < HEADER_BYTES || !value.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CorruptEntryError('not a cache entry');
  }
  const flags = value.readUInt8(MAGIC.length);
  const metaLength = value.readUInt32BE(MAGIC.length + 1);
  if (HEADER_BYTES + metaLength > value.length) throw new CorruptEntryError('truncated entry');
  let meta: { s?: unknown; h?: unknown; t?: unknown; e?: unknown };
  try {
    meta = JSON.parse(value.subarray(HEADER_BYTES, HEADER_BYTES + metaLength).toString('utf8'));
  } catch {
    throw new CorruptEntryError('unreadable entry metadata');
  }
  const { s, h, t, e } = meta;
  if (typeof s !== 'number' || typeof t !== 'number' || typeof e !== 'string' || typeof h !== 'object' || h === null) {
    throw new CorruptEntryError('incomplete entry metadata');
  }
  let body = value.subarray(HEADER_BYTES + metaLength);
  if (flags & FLAG_BROTLI) {
    try {
      body = await decompress(body);
    } catch {
      throw new CorruptEntryError('undecodable entry body');
    }
  }
  return { status: s, headers: h as Record<string, string>, body: Buffer.from(body), storedAt: t, etag: e };
}
