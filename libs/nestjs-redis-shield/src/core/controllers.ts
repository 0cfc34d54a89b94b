import type { Type } from '@nestjs/common';
import { MetadataScanner, type ModulesContainer } from '@nestjs/core';

/** Every controller class of the application, once each (a class may sit in several modules). */
export function applicationControllers(modules: ModulesContainer): Type[] {
  const found = new Set<Type>();
  for (const module of modules.values()) {
    for (const { metatype } of module.controllers.values()) {
      if (typeof metatype === 'function') found.add(metatype as Type);
    }
  }
  return [...found];
}

const scanner = new MetadataScanner();

/** The methods of a controller class (inherited ones included), by name: the handlers and their metadata targets. */
export function controllerMethods(controller: Type): [name: string, method: object][] {
  const prototype = controller.prototype as Record<string, unknown>;
  return scanner
    .getAllMethodNames(prototype)
    .map((name) => [name, prototype[name]] as [string, unknown])
    .filter((entry): entry is [string, object] => typeof entry[1] === 'function');
}
