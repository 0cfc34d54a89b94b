import type { CacheTtlOptions } from '../engine/cache.options.js';
import { Reflector } from '@nestjs/core';

/**
 * Makes a GET route cacheable for a number of seconds, a named TTL profile (`default`,
 * `models`, ... from the module's `ttlProfiles`) or a TTL with stale windows
 * ({@link CacheTtlOptions}). Routes without it are never cached unless the module sets
 * `cacheAllGet`.
 *
 * @example
 * @Get() @CacheTtl('models') list() {}
 * @Get(':id') @CacheTtl(120) one() {}
 * @Get('feed') @CacheTtl({ ttlSeconds: 30, staleWhileRevalidateSeconds: 300, staleIfErrorSeconds: 3600 }) feed() {}
 */
export const CacheTtl = Reflector.createDecorator<number | string | CacheTtlOptions>();

/** Never cache this route or controller, even with `cacheAllGet`. */
export const NoCache = Reflector.createDecorator<boolean | undefined, boolean>({ transform: (value) => value ?? true });

/**
 * Declares a route's response the same for every caller: one shared entry even for
 * authenticated requests (by default those are cached per user).
 */
export const CacheShared = Reflector.createDecorator<boolean | undefined, boolean>({
  transform: (value) => value ?? true,
});

/** Request headers (case-insensitive) whose values split a route's entries. */
export const CacheVaryOn = Reflector.createDecorator<readonly string[]>();

/** Declares request headers that split a route's cache entries, e.g. `@CacheVary('accept-language')`. */
export function CacheVary(...headers: string[]): ClassDecorator & MethodDecorator {
  return CacheVaryOn(headers.map((header) => header.toLowerCase()));
}

/** Tags stored with a route's entries, for `CacheService.clearTags`. */
export const CacheTagsOn = Reflector.createDecorator<readonly string[]>();

/** Tags a route's entries, e.g. `@CacheTags('models')`. */
export function CacheTags(...tags: string[]): ClassDecorator & MethodDecorator {
  return CacheTagsOn(tags);
}

/** What a mutating handler invalidates after it answers 2xx. */
export interface InvalidationTargets {
  /** Route-template patterns (`models`, `/api/v1/models/*`). */
  endpoints?: string[];
  /** Concrete-path patterns (`/api/v1/models/gpt-4`). */
  paths?: string[];
  /** Tags given to entries with `@CacheTags`; every entry with one of them is removed. */
  tags?: string[];
}

export const InvalidateCacheOn = Reflector.createDecorator<InvalidationTargets>();

/**
 * Invalidates cache entries after the handler answers 2xx: strings are route-template
 * patterns (`@InvalidateCache('models')` clears `/api/v1/models` and
 * `/api/v1/models/:id`); an object names endpoints, concrete paths and tags.
 */
export function InvalidateCache(...targets: (string | InvalidationTargets)[]): MethodDecorator & ClassDecorator {
  const merged: Required<InvalidationTargets> = { endpoints: [], paths: [], tags: [] };
  for (const target of targets) {
    if (typeof target === 'string') merged.endpoints.push(target);
    else {
      merged.endpoints.push(...(target.endpoints ?? []));
      merged.paths.push(...(target.paths ?? []));
      merged.tags.push(...(target.tags ?? []));
    }
  }
  return InvalidateCacheOn(merged);
}
