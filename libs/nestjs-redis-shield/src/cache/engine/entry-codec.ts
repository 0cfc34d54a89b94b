import { ERROR_CODES, messages, type ShieldErrorCode } from '../../core/errors.js';
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
  /**
   * How long after `storedAt` it is fresh, in ms. Absent in entries written before
   * stale serving existed: those are fresh for as long as Redis keeps them.
   */
  freshMs?: number;
  /** After `freshMs`, how long it may be served stale while one request refreshes it, in ms. */
  staleWhileRevalidateMs?: number;
  /** After `freshMs`, how long it may be served stale when the handler fails or Redis cannot be read, in ms. */
  staleIfErrorMs?: number;
}

/** A stored value that cannot be decoded; the caller deletes it and serves from the handler. */
export class CorruptEntryError extends Error {
  /** Always `'CorruptEntryError'`. */
  override readonly name = 'CorruptEntryError';
  /** Always `'SHIELD_E021'` (see the README's error codes). */
  readonly code: ShieldErrorCode = ERROR_CODES.corruptEntry;

  /**
   * Creates the error; the library raises it from `decodeEntry`.
   *
   * @param problem What is wrong with the stored value (`truncated entry`, ...).
   * @param options `cause`: the underlying error, if any.
   */
  constructor(problem: string, options?: ErrorOptions) {
    super(messages.corruptEntry(problem), options);
  }
}

/** What a stored entry may contain; anything else is treated as corrupt. */
export interface DecodeLimits {
  /** Largest body, in bytes after decompression (the cache's `maxEntryBytes`). Default: no limit. */
  maxBodyBytes?: number;
  /** Lower-case response header names an entry may carry (the allowlist plus `storeHeaders`). Default: any. */
  headerNames?: ReadonlySet<string>;
}

const MAGIC = Buffer.from('RSC1');
/** A header name as RFC 9110 allows it (lower-case, as stored). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]{1,64}$/;
/** A header value without CR, LF or NUL, which would split or truncate the response. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]{0,8192}$/;
/** The strong ETag the interceptor writes: a quoted base64url digest. */
const ETAG = /^"[A-Za-z0-9_-]{1,64}"$/;
const MAX_HEADERS = 32;
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
  const meta = Buffer.from(
    JSON.stringify({
      s: entry.status,
      h: entry.headers,
      t: entry.storedAt,
      e: entry.etag,
      f: entry.freshMs,
      w: entry.staleWhileRevalidateMs,
      x: entry.staleIfErrorMs,
    }),
  );
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(flags, MAGIC.length);
  header.writeUInt32BE(meta.length, MAGIC.length + 1);
  return Buffer.concat([header, meta, body]);
}

/**
 * Decodes an entry; any malformed value throws {@link CorruptEntryError}. A stored value
 * is not trusted (anything with write access to Redis, or a partial write, may have put
 * it there): the status must be 200 or 201, every header a valid name from `limits` with
 * a value that cannot split the response, the ETag the interceptor's form, and the body
 * at most `limits.maxBodyBytes` (decompression stops there instead of exhausting memory).
 */
export async function decodeEntry(value: Buffer, limits: DecodeLimits = {}): Promise<CachedResponse> {
  if (value.length < HEADER_BYTES || !value.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CorruptEntryError('not a cache entry');
  }
  const flags = value.readUInt8(MAGIC.length);
  const metaLength = value.readUInt32BE(MAGIC.length + 1);
  if (HEADER_BYTES + metaLength > value.length) throw new CorruptEntryError('truncated entry');
  let meta: { s?: unknown; h?: unknown; t?: unknown; e?: unknown; f?: unknown; w?: unknown; x?: unknown };
  try {
    meta = JSON.parse(value.subarray(HEADER_BYTES, HEADER_BYTES + metaLength).toString('utf8'));
  } catch {
    throw new CorruptEntryError('unreadable entry metadata');
  }
  const { s, h, t, e, f, w, x } = meta;
  if (
    !isOptionalDuration(f) ||
    !isOptionalDuration(w) ||
    !isOptionalDuration(x) ||
    (s !== 200 && s !== 201) ||
    typeof t !== 'number' ||
    !Number.isFinite(t) ||
    typeof e !== 'string' ||
    !ETAG.test(e) ||
    typeof h !== 'object' ||
    h === null ||
    Array.isArray(h)
  ) {
    throw new CorruptEntryError('incomplete entry metadata');
  }
  const headers = checkHeaders(h as Record<string, unknown>, limits.headerNames);
  const maxBody = limits.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  let body = value.subarray(HEADER_BYTES + metaLength);
  if (flags & FLAG_BROTLI) {
    try {
      body = await decompress(body, Number.isFinite(maxBody) ? { maxOutputLength: maxBody } : {});
    } catch {
      throw new CorruptEntryError('undecodable or oversized entry body');
    }
  }
  if (body.length > maxBody) throw new CorruptEntryError('oversized entry body');
  const entry: CachedResponse = { status: s, headers, body: Buffer.from(body), storedAt: t, etag: e };
  if (f !== undefined) entry.freshMs = f;
  if (w !== undefined) entry.staleWhileRevalidateMs = w;
  if (x !== undefined) entry.staleIfErrorMs = x;
  return entry;
}

/** A stored duration: absent, or a non-negative integer number of ms. */
function isOptionalDuration(value: unknown): value is number | undefined {
  return value === undefined || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0);
}

/** The stored headers, if every one is a valid, allowed name with a safe string value. */
function checkHeaders(
  stored: Record<string, unknown>,
  allowed: ReadonlySet<string> | undefined,
): Record<string, string> {
  const names = Object.keys(stored);
  if (names.length > MAX_HEADERS) throw new CorruptEntryError('too many entry headers');
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = stored[name];
    if (!HEADER_NAME.test(name) || (allowed && !allowed.has(name)))
      throw new CorruptEntryError('unexpected entry header');
    if (typeof value !== 'string' || !HEADER_VALUE.test(value))
      throw new CorruptEntryError('invalid entry header value');
    headers[name] = value;
  }
  return headers;
}
