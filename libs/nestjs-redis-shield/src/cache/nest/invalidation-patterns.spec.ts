import { Controller, Post } from '@nestjs/common';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { InvalidateCache } from './cache.decorators.js';
import { checkInvalidationPatterns } from './invalidation-patterns.js';
import { InvalidPatternError } from '../engine/pattern.js';
import { shieldErrorCode } from '../../core/errors.js';

const limits = { maxPatternLength: 32, maxPatternStars: 4 };

/** The controllers of a module compiled by Nest, as the service sees them at start-up. */
async function modulesOf(...controllers: (new () => object)[]): Promise<ModulesContainer> {
  const moduleRef = await Test.createTestingModule({ controllers }).compile();
  return moduleRef.get(ModulesContainer);
}

describe('checkInvalidationPatterns', () => {
  it('accepts patterns within the caps, on handlers and on the class', async () => {
    @Controller('ok')
    @InvalidateCache('/ok/*')
    class Ok {
      @Post()
      @InvalidateCache('/ok/*/*', { paths: ['/ok/1'], tags: ['t'] })
      create() {}
    }
    expect(() => checkInvalidationPatterns(new ModulesContainer(), new Reflector(), limits)).not.toThrow();
    const modules = await modulesOf(Ok);
    expect(() => checkInvalidationPatterns(modules, new Reflector(), limits)).not.toThrow();
  });

  it.each([
    ['an endpoint pattern with too many stars', '*/*/*/*/*', "pattern has 5 '*', more than maxPatternStars (4)"],
    ['a path pattern too long', { paths: ['x'.repeat(33)] }, 'more than maxPatternLength (32)'],
    ['an empty pattern', '', 'pattern is empty'],
  ])('refuses %s, naming the handler', async (_label, target, message) => {
    @Controller('bad')
    class Bad {
      @Post()
      @InvalidateCache(target)
      update() {}
    }
    const modules = await modulesOf(Bad);
    const check = () => checkInvalidationPatterns(modules, new Reflector(), limits);
    expect(check).toThrow(InvalidPatternError);
    expect(check).toThrow(/^nestjs-redis-shield: @InvalidateCache\(.*\) on Bad\.update: /);
    expect(check).toThrow(message);
    let error: unknown;
    try {
      check();
    } catch (caught) {
      error = caught;
    }
    expect(shieldErrorCode(error)).toBe('SHIELD_E020'); // not E019: the fix is in the code, not the call
  });

  it('refuses a bad pattern on the controller class, naming the class', async () => {
    @Controller('bad')
    @InvalidateCache('*a*b*c*d*e')
    class BadClass {
      @Post()
      update() {}
    }
    const modules = await modulesOf(BadClass);
    expect(() => checkInvalidationPatterns(modules, new Reflector(), limits)).toThrow(
      `@InvalidateCache("*a*b*c*d*e") on BadClass: pattern has 5 '*', more than maxPatternStars (4)`,
    );
  });
});
