import { canonicalPath, encodeSegment } from './canonical-path.js';

describe('canonicalPath', () => {
  it.each([
    // template, params, canonical path
    ['/api/v1/models', {}, '/api/v1/models'],
    ['/api/v1/models/:id', { id: 'gpt-4' }, '/api/v1/models/gpt-4'],
    ['/api/v1/models/:id', { id: 'a/b' }, '/api/v1/models/a%2Fb'],
    ['/api/v1/models/:id', { id: 'a b%' }, '/api/v1/models/a%20b%25'],
    ['/api/v1/models/:id', { id: "x:y@z!$&'()*+,;=~._-" }, "/api/v1/models/x:y@z!$&'()*+,;=~._-"],
    ['/api/v1/models/:id', { id: 'é' }, '/api/v1/models/%C3%A9'],
    ['/p/:a-:b', { a: '1', b: '2' }, '/p/1-2'],
    // Express 5: wildcard segments, optional groups, quoted names, escapes
    ['/files/*path', { path: ['a', 'b c', 'd'] }, '/files/a/b%20c/d'],
    ['/files/*path', { path: ['a/b'] }, '/files/a%2Fb'],
    ['/opt{/:x}', {}, '/opt'],
    ['/opt{/:x}', { x: '7' }, '/opt/7'],
    ['/q/:"weird-name"', { 'weird-name': 'v' }, '/q/v'],
    ['/lit\\:colon/:id', { id: '1' }, '/lit:colon/1'],
    // Fastify: wildcard string, regex parameters, optional parameters, `::` escape
    ['/files/*', { '*': 'a/b c/d' }, '/files/a/b%20c/d'],
    ['/n/:id(^\\d+)', { id: '42' }, '/n/42'],
    ['/n/:id(^(a|b)\\d+)/x', { id: 'a1' }, '/n/a1/x'],
    ['/opt/:x?', {}, '/opt'],
    ['/opt/:x?', { x: '7' }, '/opt/7'],
    ['/time/10::30', {}, '/time/10:30'],
    ['/', {}, '/'],
  ])('%s with %j is %s', (template, params, expected) => {
    expect(canonicalPath(template, params)).toBe(expected);
  });

  it('gives distinct parameters distinct paths', () => {
    const values = ['a', 'A', 'a/b', 'a%2Fb', 'a b', 'a+b', 'a%20b', '', '%', '/', 'ä', 'a%C3%A4'];
    const paths = values.map((id) => canonicalPath('/m/:id', { id }));
    expect(new Set(paths).size).toBe(values.length);
  });

  it('encodes a segment to the RFC 3986 pchar form with upper-case hex', () => {
    expect(encodeSegment('a/b?c#d[e]')).toBe('a%2Fb%3Fc%23d%5Be%5D');
    expect(encodeSegment('%6d')).toBe('%256d');
  });
});
