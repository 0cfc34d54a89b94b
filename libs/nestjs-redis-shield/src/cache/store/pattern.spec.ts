import { compilePattern } from './pattern.js';

describe('compilePattern', () => {
  it('without * matches every text containing the pattern', () => {
    const match = compilePattern('models');
    expect(match('/api/v1/models/gpt-4')).toBe(true);
    expect(match('/api/v1/models')).toBe(true);
    expect(match('/api/v1/analytics/usage')).toBe(false);
    expect(compilePattern('/api/v1/models/:id')('/api/v1/models/:id')).toBe(true);
  });

  it('with * is anchored at both ends, each * matching any run (empty included)', () => {
    const match = compilePattern('/api/v1/models/*');
    expect(match('/api/v1/models/gpt-4')).toBe(true);
    expect(match('/api/v1/models/')).toBe(true);
    expect(match('/api/v1/models/a/b')).toBe(true);
    expect(match('/api/v1/models')).toBe(false);
    expect(match('/api/v1/modelsx')).toBe(false);
    expect(match('/prefix/api/v1/models/x')).toBe(false);
    expect(compilePattern('*models*')('/api/v1/models/x')).toBe(true);
    expect(compilePattern('/api/*/models')('/api/v2/models')).toBe(true);
    expect(compilePattern('/api/*/models')('/api/v2/models/x')).toBe(false);
    expect(compilePattern('*')('anything at all')).toBe(true);
    expect(compilePattern('a**b')('ab')).toBe(true);
  });

  it('treats every other character literally', () => {
    expect(compilePattern('/a.b/*')('/a.b/x')).toBe(true);
    expect(compilePattern('/a.b/*')('/axb/x')).toBe(false);
    for (const special of ['?', '+', '(', ')', '[', ']', '{', '}', '^', '$', '|', '\\', '/']) {
      const pattern = `/x${special}y/*`;
      expect(compilePattern(pattern)(`/x${special}y/z`)).toBe(true);
      expect(compilePattern(pattern)('/xy/z')).toBe(false);
    }
    expect(compilePattern('.')('/api')).toBe(false);
    expect(compilePattern('*:id')('/api/v1/models/:id')).toBe(true);
  });

  it('is case-sensitive, handles Unicode and matches newlines with *', () => {
    expect(compilePattern('Models')('/api/v1/models')).toBe(false);
    expect(compilePattern('/café/*')('/café/ünïcode')).toBe(true);
    expect(compilePattern('a*b')('a\nb')).toBe(true);
  });

  it('an empty pattern matches everything', () => {
    expect(compilePattern('')('/api/v1/models')).toBe(true);
  });
});
