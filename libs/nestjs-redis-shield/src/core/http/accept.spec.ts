import { prefersMediaType } from './accept.js';

const prefersProblem = (accept?: string) => prefersMediaType(accept, 'application/problem+json', 'application/json');

describe('prefersMediaType', () => {
  it.each([
    ['application/problem+json', true],
    ['application/problem+json, */*;q=0.1', true],
    ['application/problem+json, application/*;q=0.5', true],
    ['application/json;q=0.5, application/problem+json', true],
    ['APPLICATION/PROBLEM+JSON;Q=1', true],
    ['application/problem+json, */*', true], // the wildcard is less specific
  ])('%s prefers problem+json', (accept, expected) => {
    expect(prefersProblem(accept)).toBe(expected);
  });

  it.each([
    [undefined],
    [''],
    ['*/*'],
    ['application/json'],
    ['application/*'],
    ['application/json, application/problem+json'], // named alike: the usual type
    ['application/problem+json;q=0.4, application/json;q=0.9'],
    ['application/problem+json;q=0'],
    ['application/problem+json;q=garbage'],
    ['text/html'],
    [`${'x/y;q=0.1,'.repeat(500)}application/problem+json`], // beyond the bytes read
  ])('%s does not', (accept) => {
    expect(prefersProblem(accept)).toBe(false);
  });
});
