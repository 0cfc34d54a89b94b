import { jest } from '@jest/globals';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { lastValueFrom, of } from 'rxjs';
import { InvalidateCache } from './cache.decorators.js';
import { type InvalidatingStore, WriteInvalidation } from './write-invalidation.js';

class ItemsController {
  @InvalidateCache('/items', { paths: ['/items/*/detail'], tags: ['items'] })
  create() {}

  @InvalidateCache('/items')
  rename() {}

  plain() {}
}

const contextOf = (handler: () => void) =>
  ({ getHandler: () => handler, getClass: () => ItemsController }) as unknown as ExecutionContext;

function setup(fail = false) {
  const matchers: { kind: string; match: (text: string) => boolean }[] = [];
  const tags: (readonly string[])[] = [];
  const result = () => (fail ? Promise.reject(new Error('unavailable')) : Promise.resolve(1));
  const store: InvalidatingStore = {
    clearRoutes: (match) => (matchers.push({ kind: 'route', match }), result()),
    clearPaths: (match) => (matchers.push({ kind: 'path', match }), result()),
    clearTags: (list) => (tags.push(list), result()),
  };
  const warn = jest.fn();
  const invalidation = new WriteInvalidation(new Reflector(), store, warn);
  const next: CallHandler = { handle: () => of({ created: true }) };
  return { invalidation, matchers, tags, warn, next };
}

const proto = ItemsController.prototype;

describe('WriteInvalidation', () => {
  it('after a 2xx, clears the routes, paths and tags named, then answers the handler result', async () => {
    const { invalidation, matchers, tags, warn, next } = setup();
    const data = await lastValueFrom(invalidation.intercept(contextOf(proto.create), { statusCode: 201 }, next));
    expect(data).toEqual({ created: true });
    expect(matchers.map(({ kind }) => kind)).toEqual(['route', 'path']);
    const [route, path] = matchers.map(({ match }) => match);
    expect(route('/api/items/:id')).toBe(true); // a plain pattern matches what contains it
    expect(route('/api/models')).toBe(false);
    expect(path('/items/7/detail')).toBe(true); // a glob matches the whole text
    expect(path('/items/7/detail/more')).toBe(false);
    expect(tags).toEqual([['items']]);
    expect(warn).not.toHaveBeenCalled();
  });

  it('runs nothing after a response that is not 2xx', async () => {
    const { invalidation, matchers, tags, next } = setup();
    await lastValueFrom(invalidation.intercept(contextOf(proto.create), { statusCode: 409 }, next));
    await lastValueFrom(invalidation.intercept(contextOf(proto.create), { statusCode: 302 }, next));
    expect(matchers).toEqual([]);
    expect(tags).toEqual([]);
  });

  it('asks for no tag clearing when none is named', async () => {
    const { invalidation, matchers, tags, next } = setup();
    await lastValueFrom(invalidation.intercept(contextOf(proto.rename), { statusCode: 200 }, next));
    expect(matchers.map(({ kind }) => kind)).toEqual(['route']);
    expect(tags).toEqual([]);
  });

  it('leaves a handler without @InvalidateCache alone', () => {
    const { invalidation } = setup();
    const handled = of('as is');
    const result = invalidation.intercept(contextOf(proto.plain), { statusCode: 200 }, { handle: () => handled });
    expect(result).toBe(handled);
  });

  it('logs a failed invalidation once per response, naming the handler, and still answers', async () => {
    const { invalidation, warn, next } = setup(true);
    const data = await lastValueFrom(invalidation.intercept(contextOf(proto.create), { statusCode: 200 }, next));
    expect(data).toEqual({ created: true });
    expect(warn.mock.calls).toEqual([['@InvalidateCache on ItemsController.create failed (Redis unavailable)']]);
  });
});
