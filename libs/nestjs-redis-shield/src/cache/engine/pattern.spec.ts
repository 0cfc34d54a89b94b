import { shieldErrorCode } from '../../core/errors.js';
import { checkPattern, compilePattern, InvalidPatternError, matchGlob } from './pattern.js';

/**
 * The obviously correct reference: "does glob[g..] match text[t..] entirely", memoised,
 * by UTF-16 code unit; without `*`, containment.
 */
function reference(pattern: string, text: string): boolean {
  if (!pattern.includes('*')) return text.includes(pattern);
  const memo = new Map<number, boolean>();
  const from = (g: number, t: number): boolean => {
    const key = g * (text.length + 1) + t;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (g === pattern.length) result = t === text.length;
    else if (pattern[g] === '*') result = from(g + 1, t) || (t < text.length && from(g, t + 1));
    else result = t < text.length && pattern[g] === text[t] && from(g + 1, t + 1);
    memo.set(key, result);
    return result;
  };
  return from(0, 0);
}

/** The matcher this one replaces (a `u` RegExp), for its semantics on well-formed text. */
function legacy(pattern: string): (text: string) => boolean {
  if (!pattern.includes('*')) return (text) => text.includes(pattern);
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('[\\s\\S]*');
  const regex = new RegExp(`^${body}$`, 'u');
  return (text) => regex.test(text);
}

/** mulberry32: a seeded generator, so a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whole characters only: the astral one is a surrogate pair, so strings stay well-formed. */
const ALPHABET = ['a', 'b', '/', '.', '?', '(', '*', '😀'];

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

  it('lets * span astral characters and matches them literally', () => {
    expect(compilePattern('a*b')('a😀b')).toBe(true);
    expect(compilePattern('a*b')('a😀😀b')).toBe(true);
    expect(compilePattern('*😀')('x😀')).toBe(true);
    expect(compilePattern('*😀*')('x😀y')).toBe(true);
    expect(compilePattern('*😀')('x😁')).toBe(false);
    expect(compilePattern('😀*')('😀')).toBe(true);
  });

  it('an empty pattern matches everything', () => {
    expect(compilePattern('')('/api/v1/models')).toBe(true);
  });

  it('agrees with a memoised reference and with the old RegExp on 5 000 random cases', () => {
    const next = random(23);
    const pick = (max: number) => {
      let out = '';
      for (let n = Math.floor(next() * (max + 1)); n > 0; n--) out += ALPHABET[Math.floor(next() * ALPHABET.length)];
      return out;
    };
    let matched = 0;
    for (let i = 0; i < 5000; i++) {
      const pattern = pick(8);
      // Half the texts are built from the pattern (stars replaced), so matches are common.
      const text = next() < 0.5 ? pattern.replace(/\*/g, () => pick(3)) : pick(12);
      const expected = reference(pattern, text);
      const actual = compilePattern(pattern)(text);
      if (actual !== expected || legacy(pattern)(text) !== expected) {
        throw new Error(`pattern ${JSON.stringify(pattern)} text ${JSON.stringify(text)}: expected ${expected}`);
      }
      if (expected) matched++;
    }
    expect(matched).toBeGreaterThan(1000); // both answers are well represented
    expect(matched).toBeLessThan(4000);
  });

  it('never does more than (text + 1) × (pattern + 1) steps', () => {
    const next = random(7);
    const pick = (max: number) => {
      let out = '';
      for (let n = Math.floor(next() * (max + 1)); n > 0; n--) out += 'ab*'[Math.floor(next() * 3)];
      return out;
    };
    for (let i = 0; i < 2000; i++) {
      const glob = `*${pick(10)}`;
      const text = pick(40).replace(/\*/g, 'a');
      const counter = { steps: 0 };
      expect(matchGlob(glob, text, counter)).toBe(reference(glob, text));
      expect(counter.steps).toBeLessThanOrEqual((text.length + 1) * (glob.length + 1));
    }
  });

  it.each([24, 64])('answers %i stars separated by a against a long run of a with a bad tail in linear steps', (n) => {
    const pattern = `${'*a'.repeat(n)}*c`;
    const text = `${'a'.repeat(20_000)}b`;
    expect(compilePattern(pattern)(text)).toBe(false);
    const counter = { steps: 0 };
    expect(matchGlob(pattern, text, counter)).toBe(false);
    // The old RegExp needed about C(20 000, n) steps here; this is two per text unit.
    expect(counter.steps).toBeLessThanOrEqual(2 * text.length + pattern.length);
    expect(compilePattern(pattern)(`${'a'.repeat(20_000)}c`)).toBe(true);
  });

  it('collapses runs of stars', () => {
    expect(compilePattern(`${'*'.repeat(200)}a${'*'.repeat(200)}c`)(`${'a'.repeat(100)}b`)).toBe(false);
    expect(compilePattern(`${'*'.repeat(200)}a${'*'.repeat(200)}c`)(`${'a'.repeat(100)}c`)).toBe(true);
  });
});

describe('checkPattern', () => {
  const limits = { maxPatternLength: 256, maxPatternStars: 16 };

  it('returns a pattern within the caps', () => {
    expect(checkPattern('/api/v1/models/*', limits)).toBe('/api/v1/models/*');
    expect(checkPattern('*'.repeat(16), limits)).toBe('*'.repeat(16));
    expect(checkPattern('x'.repeat(256), limits)).toBe('x'.repeat(256));
    expect(checkPattern('😀'.repeat(256), limits)).toBe('😀'.repeat(256)); // 512 code units, 256 characters
  });

  it.each([
    ['an empty pattern', '', 'empty', 'pattern is empty'],
    ['300 x', 'x'.repeat(300), 'maxPatternLength', 'pattern is 300 characters long, more than maxPatternLength (256)'],
    [
      '257 😀',
      '😀'.repeat(257),
      'maxPatternLength',
      'pattern is 257 characters long, more than maxPatternLength (256)',
    ],
    ['20 stars', '*/'.repeat(20), 'maxPatternStars', "pattern has 20 '*', more than maxPatternStars (16)"],
  ])('refuses %s (%#)', (_label, pattern, reason, message) => {
    let error: unknown;
    try {
      checkPattern(pattern, limits);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidPatternError);
    expect(error).toMatchObject({ name: 'InvalidPatternError', reason, message });
    expect(shieldErrorCode(error)).toBe('SHIELD_E019');
  });

  it('follows the configured caps', () => {
    expect(() => checkPattern('a*b*c', { maxPatternLength: 10, maxPatternStars: 1 })).toThrow(
      "pattern has 2 '*', more than maxPatternStars (1)",
    );
    expect(() => checkPattern('abcdef', { maxPatternLength: 5, maxPatternStars: 1 })).toThrow(
      'pattern is 6 characters long, more than maxPatternLength (5)',
    );
    expect(checkPattern('x'.repeat(1000), { maxPatternLength: 1000, maxPatternStars: 1 })).toHaveLength(1000);
  });
});
