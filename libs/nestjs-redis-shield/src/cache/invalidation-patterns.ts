import { MetadataScanner, type ModulesContainer, type Reflector } from '@nestjs/core';
import { InvalidateCacheOn } from './cache.decorators.js';
import { checkPattern, InvalidPatternError, type PatternLimits } from './store/pattern.js';

/**
 * Checks the `@InvalidateCache` patterns of every controller of the application (on
 * the class and on each method) against `limits`, so a bad pattern stops the start-up
 * instead of failing after the first successful mutation it was meant to follow.
 *
 * @throws InvalidPatternError naming the controller (and handler) that declares it.
 */
export function checkInvalidationPatterns(
  modules: ModulesContainer,
  reflector: Reflector,
  limits: PatternLimits,
): void {
  const scanner = new MetadataScanner();
  const seen = new Set<object>();
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype;
      if (typeof type !== 'function' || seen.has(type)) continue;
      seen.add(type);
      checkTargets(reflector.get(InvalidateCacheOn, type), type.name, limits);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const method = prototype[name];
        if (typeof method === 'function') {
          checkTargets(reflector.get(InvalidateCacheOn, method), `${type.name}.${name}`, limits);
        }
      }
    }
  }
}

function checkTargets(
  targets: { endpoints?: string[]; paths?: string[] } | undefined,
  owner: string,
  limits: PatternLimits,
): void {
  for (const pattern of [...(targets?.endpoints ?? []), ...(targets?.paths ?? [])]) {
    try {
      checkPattern(pattern, limits);
    } catch (error) {
      if (!(error instanceof InvalidPatternError)) throw error;
      throw new InvalidPatternError(
        error.reason,
        `nestjs-redis-shield: @InvalidateCache(${JSON.stringify(pattern.slice(0, 64))}) on ${owner}: ${error.message}`,
      );
    }
  }
}
