import { type VersioningOptions, VersioningType } from '@nestjs/common';
import type { HttpExchange } from '../../core/http/http-facade.js';

/**
 * The API version a request asked for when Nest versioning is on and the version is not
 * in the path (header, media type or custom extractor): part of the cache key. Undefined
 * without versioning, with URI versioning (the version is in the path) or when the
 * request names none.
 *
 * @param versioning The application's versioning (`ApplicationConfig.getVersioning()`).
 * @param request The adapter's request, for a custom extractor; read only then.
 */
export function apiVersionOf(
  versioning: VersioningOptions | undefined,
  exchange: Pick<HttpExchange, 'header'>,
  request: () => unknown,
): string | undefined {
  switch (versioning?.type) {
    case VersioningType.HEADER:
      return exchange.header(versioning.header.toLowerCase());
    case VersioningType.MEDIA_TYPE: {
      const part = (exchange.header('accept') ?? '')
        .split(/[;,]/)
        .map((item) => item.trim())
        .find((item) => item.startsWith(versioning.key));
      return part?.slice(versioning.key.length);
    }
    case VersioningType.CUSTOM: {
      const version = versioning.extractor(request());
      return Array.isArray(version) ? version.join(',') : version;
    }
    default:
      return undefined; // URI versioning: the version is in the path
  }
}
