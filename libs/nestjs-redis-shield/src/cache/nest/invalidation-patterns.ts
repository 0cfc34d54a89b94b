import type { Type } from '@nestjs/common';
import type { ModulesContainer, Reflector } from '@nestjs/core';
import { applicationControllers, controllerMethods } from '../../core/controllers.js';
import { messages, withCode } from '../../core/errors.js';
import { InvalidateCacheOn } from './cache.decorators.js';
import { checkPattern, InvalidPatternError, type PatternLimits } from '../engine/pattern.js';

/**
 * Checks the `@InvalidateCache` patterns of every controller of the application (on
 * the class and on each method) against `limits`, so a bad pattern stops the start-up
 * instead of failing after the first successful mutation it was meant to follow.
 *
 * @throws InvalidPatternError (SHIELD_E020) naming the controller (and handler) that declares it.
 */
export function checkInvalidationPatterns(
  modules: ModulesContainer,
  reflector: Reflector,
  limits: PatternLimits,
): void {
  for (const controller of applicationControllers(modules)) {
    checkTargets(reflector.get(InvalidateCacheOn, controller), controller.name, limits);
    for (const [name, method] of controllerMethods(controller)) {
      checkTargets(reflector.get(InvalidateCacheOn, method as Type), `${controller.name}.${name}`, limits);
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
      throw withCode(
        new InvalidPatternError(error.reason, messages.invalidDeclaredPattern(pattern, owner, error.message)),
        'invalidDeclaredPattern',
      );
    }
  }
}
