import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, messages, shieldError, shieldErrorCode, withCode } from './errors.js';

/** The README's "Error codes" section, up to the next top-level heading. */
function errorCodesSection(): string {
  const readme = readFileSync(join(import.meta.dirname, '../../../../README.md'), 'utf8');
  const start = readme.indexOf('\n## Error codes\n');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe('ERROR_CODES', () => {
  const codes = Object.values(ERROR_CODES);

  it('gives every message one code of the form SHIELD_E<nnn>, each used once', () => {
    expect(Object.keys(ERROR_CODES).sort()).toEqual(Object.keys(messages).sort());
    for (const code of codes) expect(code).toMatch(/^SHIELD_E\d{3}$/);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it("is exactly what the README's Error codes table lists, once each", () => {
    const rows = [...errorCodesSection().matchAll(/^\|\s*`(SHIELD_E\d{3})`\s*\|/gm)].map((match) => match[1]);
    expect([...rows].sort()).toEqual([...codes].sort());
    expect(new Set(rows).size).toBe(rows.length);
  });
});

describe('shieldError', () => {
  it("builds an Error with the message's text and its code", () => {
    const error = shieldError('invalidOption', 'commandTimeoutMs', 0, 'a positive integer');
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('nestjs-redis-shield: invalid option commandTimeoutMs=0: expected a positive integer');
    expect(error.code).toBe('SHIELD_E001');
    expect(shieldErrorCode(error)).toBe('SHIELD_E001');
  });

  it('formats values so the option error shows what was given', () => {
    expect(shieldError('invalidOption', 'keyPrefix', 'a{', 'no { or }').message).toContain('keyPrefix="a{"');
    expect(shieldError('invalidOption', 'authorize', {}, 'a function').message).toContain('authorize=object');
    expect(shieldError('invalidOption', 'x', undefined, 'y').message).toContain('x=undefined');
  });
});

describe('withCode', () => {
  it('tags an error of any class and keeps its class', () => {
    const error = withCode(new RangeError(messages.invalidArgument('ttlSeconds', -1, 'positive')), 'invalidArgument');
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe('ttlSeconds must be positive, got -1');
    expect(error.code).toBe('SHIELD_E009');
  });
});

describe('shieldErrorCode', () => {
  it.each([
    [new Error('x'), undefined],
    [Object.assign(new Error('socket'), { code: 'ECONNREFUSED' }), undefined],
    [{ code: 'SHIELD_E999' }, undefined],
    [null, undefined],
    ['SHIELD_E001', undefined],
    [{ code: 'SHIELD_E002' }, 'SHIELD_E002'],
  ])('of %p is %p', (value, code) => {
    expect(shieldErrorCode(value)).toBe(code);
  });
});
