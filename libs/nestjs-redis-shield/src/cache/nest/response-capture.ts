import { StreamableFile } from '@nestjs/common';
import { Readable } from 'node:stream';
import type { HttpExchange } from '../../core/http/http-facade.js';

/** Response headers stored with an entry (plus the module's `storeHeaders`). */
export const STORED_HEADERS: readonly string[] = [
  'content-type',
  'content-language',
  'content-disposition',
  'link',
  'cache-control',
  'vary',
  'etag',
];

/** A handler result as the bytes the adapter sends, and their type. */
export interface CapturedBody {
  body: Buffer;
  contentType: string;
}

/** The bytes the adapter would send for a handler result, or undefined when not cacheable. */
export function capture(data: unknown): CapturedBody | undefined {
  if (data === undefined || data === null) return undefined;
  if (
    data instanceof StreamableFile ||
    Buffer.isBuffer(data) ||
    data instanceof Readable ||
    data instanceof Uint8Array
  ) {
    return undefined;
  }
  if (typeof data === 'string') return { body: Buffer.from(data), contentType: 'text/html; charset=utf-8' };
  const json = JSON.stringify(data);
  if (json === undefined) return undefined;
  return { body: Buffer.from(json), contentType: 'application/json; charset=utf-8' };
}

/** Per-user entries must never be shared by a proxy downstream. */
export function markPrivate(exchange: Pick<HttpExchange, 'responseHeader' | 'setHeader'>): void {
  const cacheControl = exchange.responseHeader('cache-control');
  if (!cacheControl || !/\bprivate\b/i.test(cacheControl)) {
    exchange.setHeader('Cache-Control', cacheControl ? `private, ${cacheControl}` : 'private');
  }
  const vary = exchange.responseHeader('vary');
  if (!vary || !/\bauthorization\b/i.test(vary))
    exchange.setHeader('Vary', vary ? `${vary}, Authorization` : 'Authorization');
}
